package main

// JSON events on stdout (one object per line) and a CometBFT logger that
// turns the Switch's, the PEX reactor's and the address book's log lines into
// "log" events.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sync"
	"time"

	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/p2p"
)

var outMu sync.Mutex

// emit writes one event: {"event": name, "t_us": <unix µs>, ...fields}.
func emit(name string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["event"] = name
	fields["t_us"] = time.Now().UnixMicro()
	b, err := json.Marshal(fields)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"event": "error", "err": err.Error()})
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// peerFields describes a peer and its NodeInfo.
func peerFields(p p2p.Peer) map[string]any {
	f := map[string]any{
		"id":       string(p.ID()),
		"addr":     p.SocketAddr().String(),
		"outbound": p.IsOutbound(),
	}
	if ni, ok := p.NodeInfo().(p2p.DefaultNodeInfo); ok {
		f["node_info"] = map[string]any{
			"moniker":     ni.Moniker,
			"network":     ni.Network,
			"version":     ni.Version,
			"channels":    hex.EncodeToString(ni.Channels),
			"listen_addr": ni.ListenAddr,
			"protocol":    []uint64{ni.ProtocolVersion.P2P, ni.ProtocolVersion.Block, ni.ProtocolVersion.App},
			"tx_index":    ni.Other.TxIndex,
			"rpc_address": ni.Other.RPCAddress,
		}
	}
	return f
}

// jsonLogger is a cmtlog.Logger writing "log" events (debug lines only
// when their message matches debug).
type jsonLogger struct {
	debug *regexp.Regexp
	kv    []any
}

var _ cmtlog.Logger = (*jsonLogger)(nil)

func (l *jsonLogger) log(level, msg string, keyvals []any) {
	all := append(append([]any{}, l.kv...), keyvals...)
	kv := map[string]string{}
	for i := 0; i+1 < len(all); i += 2 {
		kv[fmt.Sprint(all[i])] = fmt.Sprint(all[i+1])
	}
	emit("log", map[string]any{"level": level, "msg": msg, "kv": kv})
}

func (l *jsonLogger) Debug(msg string, keyvals ...any) {
	if l.debug != nil && l.debug.MatchString(msg) {
		l.log("debug", msg, keyvals)
	}
}
func (l *jsonLogger) Info(msg string, keyvals ...any)  { l.log("info", msg, keyvals) }
func (l *jsonLogger) Error(msg string, keyvals ...any) { l.log("error", msg, keyvals) }
func (l *jsonLogger) With(keyvals ...any) cmtlog.Logger {
	return &jsonLogger{debug: l.debug, kv: append(append([]any{}, l.kv...), keyvals...)}
}
