package main

// The echo reactor on the gossip channel, its raw-bytes message type, and a
// tap on the PEX reactor that reports the PEX messages it receives.

import (
	"encoding/hex"
	"fmt"

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
	"github.com/cometbft/cometbft/p2p/pex"
	tmp2p "github.com/cometbft/cometbft/proto/tendermint/p2p"
	"github.com/cosmos/gogoproto/proto"
)

// rawMsg carries a message's bytes unchanged through the Switch's protobuf
// (un)marshalling: it is its own wire encoding.
type rawMsg struct{ data []byte }

var _ proto.Message = (*rawMsg)(nil)

func (m *rawMsg) Reset()                   { m.data = nil }
func (m *rawMsg) String() string           { return fmt.Sprintf("rawMsg(%d bytes)", len(m.data)) }
func (m *rawMsg) ProtoMessage()            {}
func (m *rawMsg) Marshal() ([]byte, error) { return m.data, nil }
func (m *rawMsg) Unmarshal(b []byte) error { m.data = append([]byte(nil), b...); return nil }
func (m *rawMsg) Merge(src proto.Message)  { m.data = append([]byte(nil), src.(*rawMsg).data...) }

// payload is the test pattern: byte i = byte(i*29) ^ tag (the Rust tests use the same).
func payload(n int, tag byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*29) ^ tag
	}
	return b
}

// echoReactor owns the gossip channel: it reports every peer added and
// removed (for every reactor) and every message, and sends each message back.
type echoReactor struct {
	p2p.BaseReactor
	desc *conn.ChannelDescriptor
	echo bool
}

func newEchoReactor(ch byte, recvCap int, echo bool) *echoReactor {
	r := &echoReactor{
		desc: &conn.ChannelDescriptor{
			ID:                  ch,
			Priority:            5,
			SendQueueCapacity:   100,
			RecvBufferCapacity:  4096,
			RecvMessageCapacity: recvCap,
			MessageType:         &rawMsg{},
		},
		echo: echo,
	}
	r.BaseReactor = *p2p.NewBaseReactor("ECHO", r)
	return r
}

func (r *echoReactor) GetChannels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{r.desc}
}

func (r *echoReactor) AddPeer(p p2p.Peer) { emit("peer_added", peerFields(p)) }

func (r *echoReactor) RemovePeer(p p2p.Peer, reason any) {
	f := peerFields(p)
	if reason == nil {
		f["reason"] = ""
		f["graceful"] = true
	} else {
		f["reason"] = fmt.Sprint(reason)
		f["graceful"] = false
	}
	emit("peer_removed", f)
}

func (r *echoReactor) Receive(e p2p.Envelope) {
	m, ok := e.Message.(*rawMsg)
	if !ok {
		emit("error", map[string]any{"err": fmt.Sprintf("unexpected message type %T", e.Message)})
		return
	}
	emit("recv", map[string]any{
		"peer":    string(e.Src.ID()),
		"channel": int(e.ChannelID),
		"len":     len(m.data),
		"sha256":  sha256hex(m.data),
	})
	if r.echo {
		ok := e.Src.Send(p2p.Envelope{ChannelID: e.ChannelID, Message: &rawMsg{data: m.data}})
		emit("echoed", map[string]any{"peer": string(e.Src.ID()), "len": len(m.data), "ok": ok})
	}
}

// pexTap is the PEX reactor with its received messages reported first.
type pexTap struct{ *pex.Reactor }

func (t *pexTap) Receive(e p2p.Envelope) {
	switch m := e.Message.(type) {
	case *tmp2p.PexRequest:
		emit("pex_request", map[string]any{"peer": string(e.Src.ID())})
	case *tmp2p.PexAddrs:
		addrs := []string{}
		for _, a := range m.Addrs {
			addrs = append(addrs, fmt.Sprintf("%s@%s:%d", a.ID, a.IP, a.Port))
		}
		emit("pex_addrs", map[string]any{"peer": string(e.Src.ID()), "addrs": addrs})
	}
	t.Reactor.Receive(e)
}

func channelsHex(chs []byte) string { return hex.EncodeToString(chs) }
