// Command gopeer is a CometBFT v0.38 p2p node built from CometBFT's own Go
// packages (p2p.Switch, p2p.MultiplexTransport, p2p/pex) with an echo
// reactor on the cometnet gossip channel (0x70). The Rust interop tests
// (interop/tests/go_peer*.rs) run it against our stack on loopback.
//
// It prints one JSON object per line on stdout (see interop/README.md for
// the events) and reads commands on stdin, one per line:
//
//	dial ID@HOST:PORT          dial a peer (event "dial" with ok/err/elapsed_us)
//	send PEER|* LEN [N] [TAG]  send N messages of LEN pattern bytes on the channel (event "sent")
//	raw PEER CH HEX            send these bytes as one message on channel CH (decimal) (event "sent")
//	book                       the address book (event "book")
//	peers                      the peer set (event "peers")
//	stop PEER                  stop a peer gracefully
//	quit                       stop and exit
//
// It stops when stdin closes, on "quit", or on SIGINT/SIGTERM.
package main

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/pex"
	"github.com/cometbft/cometbft/version"
)

type options struct {
	network, laddr, moniker       string
	seeds, persistent, bookAdd    string
	seedMode, pexOn, echo, strict bool
	allowDupIP                    bool
	seedWait, ensurePeers         time.Duration
	ping, pong, flush             time.Duration
	recvCap, channel              int
	channels                      string
	nodeKey, addrBook, debugMatch string
	sendRate, recvRate            int64
	maxPayload, maxIn, maxOut     int
}

func parseFlags() *options {
	o := &options{}
	flag.StringVar(&o.network, "network", "cometnet-interop", "network (chain) ID")
	flag.StringVar(&o.laddr, "laddr", "tcp://127.0.0.1:0", "listen address (port 0: a free port)")
	flag.StringVar(&o.moniker, "moniker", "gopeer", "moniker")
	flag.StringVar(&o.seeds, "seeds", "", "seeds, ID@HOST:PORT comma-separated")
	flag.StringVar(&o.persistent, "persistent-peers", "", "persistent peers, ID@HOST:PORT comma-separated")
	flag.StringVar(&o.bookAdd, "book-add", "", "addresses put in the address book before start, comma-separated")
	flag.BoolVar(&o.seedMode, "seed-mode", false, "PEX seed (crawler) mode")
	flag.DurationVar(&o.seedWait, "seed-disconnect-wait", 28*time.Hour, "seed mode: SeedDisconnectWaitPeriod")
	flag.DurationVar(&o.ensurePeers, "ensure-peers-period", 30*time.Second, "PEX ensurePeers period")
	flag.BoolVar(&o.pexOn, "pex", true, "run the PEX reactor")
	flag.BoolVar(&o.echo, "echo", true, "send every message on the gossip channel back")
	flag.BoolVar(&o.strict, "strict", false, "addr_book_strict")
	flag.BoolVar(&o.allowDupIP, "allow-duplicate-ip", true, "allow_duplicate_ip")
	flag.DurationVar(&o.ping, "ping", 60*time.Second, "MConnection ping interval")
	flag.DurationVar(&o.pong, "pong", 45*time.Second, "MConnection pong timeout (< ping)")
	flag.DurationVar(&o.flush, "flush", 100*time.Millisecond, "flush_throttle_timeout")
	flag.IntVar(&o.recvCap, "recv-cap", 4*1024*1024+36, "recv_message_capacity of the gossip channel")
	flag.IntVar(&o.channel, "channel", 0x70, "the gossip channel ID")
	flag.StringVar(&o.channels, "channels", "", "override NodeInfo channels: hex bytes, comma-separated (e.g. 20,21)")
	flag.StringVar(&o.nodeKey, "node-key", "", "node_key.json (created if missing; empty: a new key in memory)")
	flag.StringVar(&o.addrBook, "addr-book", "", "addrbook.json path (empty: a temporary file)")
	flag.StringVar(&o.debugMatch, "debug-match", "", "also log debug lines whose message matches this regexp (e.g. Ping|Pong)")
	flag.Int64Var(&o.sendRate, "send-rate", 5120000, "send_rate (bytes/s)")
	flag.Int64Var(&o.recvRate, "recv-rate", 5120000, "recv_rate (bytes/s)")
	flag.IntVar(&o.maxPayload, "max-packet-payload", 1024, "max_packet_msg_payload_size")
	flag.IntVar(&o.maxIn, "max-inbound", 40, "max_num_inbound_peers")
	flag.IntVar(&o.maxOut, "max-outbound", 10, "max_num_outbound_peers")
	flag.Parse()
	return o
}

func fail(what string, err error) {
	emit("error", map[string]any{"err": fmt.Sprintf("%s: %v", what, err)})
	os.Exit(1)
}

func splitList(s string) []string {
	out := []string{}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// resolveListen replaces port 0 by a free port (NodeInfo needs the real one).
func resolveListen(laddr string) (string, error) {
	hostPort := strings.TrimPrefix(laddr, "tcp://")
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	if port == "0" {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return net.JoinHostPort(host, port), nil
}

func main() {
	o := parseFlags()
	logger := &jsonLogger{}
	if o.debugMatch != "" {
		re, err := regexp.Compile(o.debugMatch)
		if err != nil {
			fail("-debug-match", err)
		}
		logger.debug = re
	}

	var nodeKey *p2p.NodeKey
	if o.nodeKey != "" {
		k, err := p2p.LoadOrGenNodeKey(o.nodeKey)
		if err != nil {
			fail("node key", err)
		}
		nodeKey = k
	} else {
		nodeKey = &p2p.NodeKey{PrivKey: ed25519.GenPrivKey()}
	}
	listen, err := resolveListen(o.laddr)
	if err != nil {
		fail("-laddr", err)
	}
	bookPath := o.addrBook
	if bookPath == "" {
		dir, err := os.MkdirTemp("", "gopeer")
		if err != nil {
			fail("temp dir", err)
		}
		defer os.RemoveAll(dir)
		bookPath = filepath.Join(dir, "addrbook.json")
	}

	cfg := config.DefaultP2PConfig()
	cfg.ListenAddress = "tcp://" + listen
	cfg.Seeds = o.seeds
	cfg.PersistentPeers = o.persistent
	cfg.SeedMode = o.seedMode
	cfg.PexReactor = o.pexOn
	cfg.AddrBookStrict = o.strict
	cfg.AllowDuplicateIP = o.allowDupIP
	cfg.FlushThrottleTimeout = o.flush
	cfg.SendRate = o.sendRate
	cfg.RecvRate = o.recvRate
	cfg.MaxPacketMsgPayloadSize = o.maxPayload
	cfg.MaxNumInboundPeers = o.maxIn
	cfg.MaxNumOutboundPeers = o.maxOut

	chans := []byte{byte(o.channel)}
	if o.pexOn {
		chans = append(chans, pex.PexChannel)
	}
	if o.channels != "" {
		chans = nil
		for _, c := range splitList(o.channels) {
			b, err := hex.DecodeString(c)
			if err != nil || len(b) != 1 {
				fail("-channels", fmt.Errorf("%q is not one hex byte", c))
			}
			chans = append(chans, b[0])
		}
	}
	nodeInfo := p2p.DefaultNodeInfo{
		ProtocolVersion: p2p.NewProtocolVersion(version.P2PProtocol, version.BlockProtocol, 0),
		DefaultNodeID:   nodeKey.ID(),
		ListenAddr:      cfg.ListenAddress,
		Network:         o.network,
		Version:         version.TMCoreSemVer,
		Channels:        chans,
		Moniker:         o.moniker,
		Other:           p2p.DefaultNodeInfoOther{TxIndex: "off"},
	}
	if err := nodeInfo.Validate(); err != nil {
		fail("node info", err)
	}

	// As node/setup.go: createTransport, createSwitch, createAddrBookAndSetOnSwitch,
	// createPEXReactorAndAddToSwitch.
	mconf := p2p.MConnConfig(cfg)
	mconf.PingInterval = o.ping
	mconf.PongTimeout = o.pong
	transport := p2p.NewMultiplexTransport(nodeInfo, *nodeKey, mconf)
	if !cfg.AllowDuplicateIP {
		p2p.MultiplexTransportConnFilters(p2p.ConnDuplicateIPFilter())(transport)
	}
	p2p.MultiplexTransportMaxIncomingConnections(cfg.MaxNumInboundPeers)(transport)

	sw := p2p.NewSwitch(cfg, transport)
	sw.SetLogger(logger.With("module", "p2p"))
	sw.AddReactor("ECHO", newEchoReactor(byte(o.channel), o.recvCap, o.echo))
	sw.SetNodeInfo(nodeInfo)
	sw.SetNodeKey(nodeKey)

	self, err := p2p.NewNetAddressString(p2p.IDAddressString(nodeKey.ID(), cfg.ListenAddress))
	if err != nil {
		fail("listen address", err)
	}
	var book pex.AddrBook
	if o.pexOn {
		book = pex.NewAddrBook(bookPath, cfg.AddrBookStrict)
		book.SetLogger(logger.With("module", "book"))
		book.AddOurAddress(self)
		sw.SetAddrBook(book)
		for _, a := range splitList(o.bookAdd) {
			na, err := p2p.NewNetAddressString(a)
			if err != nil {
				fail("-book-add", err)
			}
			if err := book.AddAddress(na, self); err != nil {
				fail("-book-add", err)
			}
		}
		r := pex.NewReactor(book, &pex.ReactorConfig{
			Seeds:                        splitList(cfg.Seeds),
			SeedMode:                     cfg.SeedMode,
			SeedDisconnectWaitPeriod:     o.seedWait,
			PersistentPeersMaxDialPeriod: cfg.PersistentPeersMaxDialPeriod,
		})
		r.SetEnsurePeersPeriod(o.ensurePeers)
		r.SetLogger(logger.With("module", "pex"))
		sw.AddReactor("PEX", &pexTap{r})
	}
	persistent := splitList(cfg.PersistentPeers)
	if err := sw.AddPersistentPeers(persistent); err != nil {
		fail("-persistent-peers", err)
	}

	if err := transport.Listen(*self); err != nil {
		fail("listen", err)
	}
	if err := sw.Start(); err != nil {
		fail("switch start", err)
	}
	emit("listening", map[string]any{
		"id":       string(nodeKey.ID()),
		"addr":     self.String(),
		"listen":   listen,
		"network":  o.network,
		"channels": channelsHex(chans),
		"version":  version.TMCoreSemVer,
	})
	if len(persistent) > 0 {
		if err := sw.DialPeersAsync(persistent); err != nil {
			emit("error", map[string]any{"err": fmt.Sprintf("dial persistent peers: %v", err)})
		}
	}

	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		close(done)
	}()
	go func() {
		commands(sw, book, byte(o.channel))
		close(done)
	}()
	<-done
	if err := sw.Stop(); err != nil {
		emit("error", map[string]any{"err": fmt.Sprintf("switch stop: %v", err)})
	}
	if w, ok := book.(interface{ Wait() }); ok {
		w.Wait() // its last save, before the temporary directory goes
	}
	emit("stopped", nil)
}

// commands runs stdin commands until EOF or "quit".
func commands(sw *p2p.Switch, book pex.AddrBook, ch byte) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "quit":
			return
		case "dial":
			if len(f) != 2 {
				emit("error", map[string]any{"err": "usage: dial ID@HOST:PORT"})
				continue
			}
			go dial(sw, f[1])
		case "send":
			if len(f) < 3 {
				emit("error", map[string]any{"err": "usage: send PEER|* LEN [N] [TAG]"})
				continue
			}
			n, count, tag := atoi(f[2], 0), atoi(get(f, 3), 1), atoi(get(f, 4), 0)
			go send(sw, ch, f[1], n, count, byte(tag))
		case "raw":
			if len(f) != 4 {
				emit("error", map[string]any{"err": "usage: raw PEER CH HEX"})
				continue
			}
			data, err := hex.DecodeString(f[3])
			if err != nil {
				emit("error", map[string]any{"err": "raw: " + err.Error()})
				continue
			}
			ok := false
			if p := sw.Peers().Get(p2p.ID(f[1])); p != nil {
				ok = p.Send(p2p.Envelope{ChannelID: byte(atoi(f[2], 0)), Message: &rawMsg{data: data}})
			}
			emit("sent", map[string]any{"peer": f[1], "len": len(data), "count": 1, "ok": map[bool]int{true: 1}[ok], "raw": true})
		case "book":
			f := map[string]any{"size": 0, "addrs": []string{}}
			if book != nil {
				addrs := []string{}
				for _, a := range book.GetSelection() {
					addrs = append(addrs, a.String())
				}
				f["size"] = book.Size()
				f["addrs"] = addrs
			}
			emit("book", f)
		case "peers":
			ids := []string{}
			for _, p := range sw.Peers().List() {
				ids = append(ids, string(p.ID()))
			}
			out, in, dialing := sw.NumPeers()
			emit("peers", map[string]any{"ids": ids, "outbound": out, "inbound": in, "dialing": dialing})
		case "stop":
			if len(f) == 2 {
				if p := sw.Peers().Get(p2p.ID(f[1])); p != nil {
					sw.StopPeerGracefully(p)
				}
			}
		default:
			emit("error", map[string]any{"err": "unknown command " + f[0]})
		}
	}
}

func get(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func atoi(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func dial(sw *p2p.Switch, addr string) {
	na, err := p2p.NewNetAddressString(addr)
	if err != nil {
		emit("dial", map[string]any{"addr": addr, "ok": false, "err": err.Error()})
		return
	}
	t0 := time.Now()
	err = sw.DialPeerWithAddress(na)
	f := map[string]any{"addr": addr, "ok": err == nil, "elapsed_us": time.Since(t0).Microseconds()}
	if err != nil {
		f["err"] = err.Error()
	}
	emit("dial", f)
}

func send(sw *p2p.Switch, ch byte, to string, n, count int, tag byte) {
	data := payload(n, tag)
	var peers []p2p.Peer
	for _, p := range sw.Peers().List() {
		if to == "*" || string(p.ID()) == to {
			peers = append(peers, p)
		}
	}
	t0 := time.Now()
	ok := 0
	for i := 0; i < count; i++ {
		for _, p := range peers {
			if p.Send(p2p.Envelope{ChannelID: ch, Message: &rawMsg{data: data}}) {
				ok++
			}
		}
	}
	emit("sent", map[string]any{
		"peer": to, "peers": len(peers), "len": n, "count": count, "ok": ok,
		"sha256": sha256hex(data), "elapsed_us": time.Since(t0).Microseconds(),
	})
}
