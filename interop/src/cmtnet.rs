//! A real CometBFT v0.38 network on loopback, and `cometnet` processes next to
//! it, for the `cometbft_*` tests (`interop/tests/cometbft_*.rs`).
//!
//! - [`Harness`]: a work directory plus every process a test started; its
//!   `Drop` kills them all (even when the test panics) and removes the
//!   directory unless the test failed (then the logs stay, and the path is
//!   printed).
//! - [`Harness::go_testnet`]: `cometbft testnet` homes for N validators (+ M
//!   spare homes, never started), configured for loopback (node `i` on
//!   `127.A.B.(i+2)`, P2P and RPC on the same two ports on every IP, fast
//!   blocks, built-in `kvstore` app), then `cometbft start` for each validator.
//! - [`rpc`]: a GET on CometBFT's JSON-RPC over HTTP, returning `result`.
//! - [`set_toml_key`]: edits one key of a `config.toml` in place (keeps the rest).
//!
//! `interop/testnet.sh` does the same steps from a shell, for people.
//!
//! Errors are `String`s naming what failed: this is test support, and every
//! caller is a test that turns them into a failure message.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The wall clock, for deadlines on real processes.
#[allow(clippy::disallowed_methods)] // allow-ambient: real processes run on real time
pub fn now() -> Instant {
    Instant::now()
}

/// A harness step failed: what, and why.
pub type Res<T> = Result<T, String>;

/// One process started by a test.
struct Proc {
    name: String,
    child: Child,
}

/// A test's work directory and processes; everything is stopped on `Drop`.
pub struct Harness {
    /// The work directory (under the system temp dir).
    pub dir: PathBuf,
    procs: Vec<Proc>,
}

/// One CometBFT node of a [`GoNet`].
#[derive(Debug, Clone)]
pub struct GoNode {
    /// Its home directory.
    pub home: PathBuf,
    /// Its moniker (`goval<i>` for validators).
    pub moniker: String,
    /// Its node ID, as `cometbft show-node-id` prints it.
    pub id: String,
    /// Its P2P listen address.
    pub p2p: SocketAddr,
    /// Its RPC listen address.
    pub rpc: SocketAddr,
}

impl GoNode {
    /// `id@ip:port`.
    pub fn addr(&self) -> String {
        format!("{}@{}", self.id, self.p2p)
    }
}

/// A CometBFT testnet: running validators, spare (never started) homes made by
/// the same `cometbft testnet` run (same genesis).
#[derive(Debug, Clone)]
pub struct GoNet {
    /// The chain ID.
    pub chain_id: String,
    /// The validators (started).
    pub validators: Vec<GoNode>,
    /// Non-validator homes (not started; configured like the validators).
    pub spares: Vec<GoNode>,
    /// The P2P port every node uses (on its own IP).
    pub p2p_port: u16,
    /// The RPC port every node uses (on its own IP).
    pub rpc_port: u16,
}

impl Harness {
    /// A fresh work directory `cometnet-interop-<tag>-<pid>` under the temp dir.
    pub fn new(tag: &str) -> Res<Self> {
        let dir =
            std::env::temp_dir().join(format!("cometnet-interop-{tag}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Harness {
            dir,
            procs: Vec::new(),
        })
    }

    /// Starts `cmd` with stdout and stderr going to `<dir>/<name>.log`; returns its pid.
    pub fn spawn(&mut self, name: &str, mut cmd: Command) -> Res<u32> {
        let log_path = self.log(name);
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {name} ({cmd:?}): {e}"))?;
        let pid = child.id();
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
        });
        Ok(pid)
    }

    /// The log file of process `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// True if process `name` is still running.
    pub fn running(&mut self, name: &str) -> bool {
        self.procs
            .iter_mut()
            .find(|p| p.name == name)
            .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    /// Stops process `name` with SIGTERM (a clean stop: both CometBFT and
    /// cometnet save their address book), waiting up to `grace`, then SIGKILL.
    /// Returns its exit status text.
    pub fn stop(&mut self, name: &str, grace: Duration) -> Res<String> {
        let i = self
            .procs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| format!("no process {name}"))?;
        let mut p = self.procs.remove(i);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(p.child.id().to_string())
            .status();
        let deadline = now() + grace;
        loop {
            match p.child.try_wait() {
                Ok(Some(st)) => return Ok(st.to_string()),
                Ok(None) if now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                _ => {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    return Err(format!(
                        "{name} did not stop within {grace:?} of SIGTERM; killed"
                    ));
                }
            }
        }
    }

    /// Runs `cmd` to completion (bounded by `timeout`); its stdout, or an error
    /// with its stderr.
    pub fn run(&self, mut cmd: Command, timeout: Duration) -> Res<String> {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{shown}: {e}"))?;
        let deadline = now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{shown}: no exit within {timeout:?}; killed"));
                }
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        if status.success() {
            Ok(out)
        } else {
            Err(format!("{shown}: {status}\nstdout: {out}\nstderr: {err}"))
        }
    }

    /// Creates a `cometbft testnet` of `validators` validators (+ `spares`
    /// non-validator homes), configures it for loopback on `127.a.b.(i+2)`, starts
    /// the validators and waits until every one has committed block 2.
    pub fn go_testnet(
        &mut self,
        cometbft: &Path,
        ip_prefix: [u8; 2],
        validators: usize,
        spares: usize,
    ) -> Res<GoNet> {
        let ip = |i: usize| {
            Ipv4Addr::new(
                127,
                ip_prefix[0],
                ip_prefix[1],
                u8::try_from(i + 2).unwrap_or(255),
            )
        };
        let ips: Vec<Ipv4Addr> = (0..validators + spares).map(ip).collect();
        let p2p_port = free_port(&ips, &[])?;
        let rpc_port = free_port(&ips, &[p2p_port])?;
        let out = self.dir.join("go");
        let mut cmd = Command::new(cometbft);
        cmd.args([
            "testnet",
            "--v",
            &validators.to_string(),
            "--n",
            &spares.to_string(),
        ])
        .arg("--o")
        .arg(&out)
        .args(["--starting-ip-address", &ip(0).to_string()])
        .args(["--p2p-port", &p2p_port.to_string()]);
        self.run(cmd, Duration::from_secs(60))?;
        let genesis = read(&out.join("node0/config/genesis.json"))?;
        let chain_id = serde_json::from_str::<serde_json::Value>(&genesis)
            .map_err(|e| format!("genesis.json: {e}"))?["chain_id"]
            .as_str()
            .ok_or("genesis.json: no chain_id")?
            .to_owned();
        let mut nodes = Vec::new();
        for i in 0..validators + spares {
            let home = out.join(format!("node{i}"));
            let moniker = if i < validators {
                format!("goval{i}")
            } else {
                format!("gospare{i}")
            };
            let cfg = home.join("config/config.toml");
            let mut text = read(&cfg)?;
            for (section, key, value) in [
                ("", "moniker", format!("\"{moniker}\"")),
                ("", "proxy_app", "\"kvstore\"".to_owned()),
                ("rpc", "laddr", format!("\"tcp://{}:{rpc_port}\"", ip(i))),
                ("p2p", "laddr", format!("\"tcp://{}:{p2p_port}\"", ip(i))),
                ("p2p", "addr_book_strict", "false".to_owned()),
                // Go dials from 127.0.0.1 whatever the target: every peer shares one IP.
                ("p2p", "allow_duplicate_ip", "true".to_owned()),
                ("consensus", "timeout_commit", "\"500ms\"".to_owned()),
            ] {
                text = set_toml_key(&text, section, key, &value)?;
            }
            write(&cfg, &text)?;
            let mut show = Command::new(cometbft);
            show.args(["show-node-id", "--home"]).arg(&home);
            let id = self.run(show, Duration::from_secs(30))?.trim().to_owned();
            nodes.push(GoNode {
                home,
                moniker,
                id,
                p2p: SocketAddr::from((ip(i), p2p_port)),
                rpc: SocketAddr::from((ip(i), rpc_port)),
            });
        }
        let spare_nodes = nodes.split_off(validators);
        // `cometbft testnet` lists every home (spares too) as persistent peers;
        // keep the validators only, so no book fills with addresses never started.
        let peer_list = nodes.iter().map(GoNode::addr).collect::<Vec<_>>().join(",");
        for n in nodes.iter().chain(&spare_nodes) {
            let cfg = n.home.join("config/config.toml");
            let text = set_toml_key(
                &read(&cfg)?,
                "p2p",
                "persistent_peers",
                &format!("\"{peer_list}\""),
            )?;
            write(&cfg, &text)?;
        }
        for n in &nodes {
            let mut cmd = Command::new(cometbft);
            cmd.arg("start").arg("--home").arg(&n.home);
            self.spawn(&n.moniker, cmd)?;
        }
        let net = GoNet {
            chain_id,
            validators: nodes,
            spares: spare_nodes,
            p2p_port,
            rpc_port,
        };
        for n in &net.validators {
            wait_height(n, 2, Duration::from_secs(60))?;
        }
        Ok(net)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
        }
        for p in &mut self.procs {
            let _ = p.child.wait();
        }
        if std::thread::panicking() || std::env::var_os("COMETNET_INTEROP_KEEP").is_some() {
            eprintln!("kept {} (logs of every process)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port free for listening on every one of `ips` (and not in `avoid`).
pub fn free_port(ips: &[Ipv4Addr], avoid: &[u16]) -> Res<u16> {
    let first = *ips.first().ok_or("free_port: no IP")?;
    for _ in 0..50 {
        let l = TcpListener::bind((first, 0)).map_err(|e| format!("bind {first}:0: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        if avoid.contains(&port) {
            continue;
        }
        if ips
            .iter()
            .skip(1)
            .all(|ip| TcpListener::bind((*ip, port)).is_ok())
        {
            return Ok(port);
        }
    }
    Err(format!("no port free on all of {ips:?}"))
}

/// Reads a file as text.
pub fn read(path: &Path) -> Res<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a text file.
pub fn write(path: &Path, text: &str) -> Res<()> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Sets `key = value` (value as TOML text, e.g. `"\"500ms\""` or `"false"`) in
/// `[section]` of a config (`""` is the top level, before any section),
/// replacing the key's line if present, else adding it after the header.
pub fn set_toml_key(text: &str, section: &str, key: &str, value: &str) -> Res<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut done = false;
    let mut header_at: Option<usize> = if section.is_empty() { Some(0) } else { None };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            if !done && current == section {
                if let Some(at) = header_at {
                    out.insert(at, format!("{key} = {value}"));
                    done = true;
                }
            }
            current = t.trim_matches(['[', ']']).to_owned();
            if current == section {
                header_at = Some(out.len() + 1);
            }
        } else if !done && current == section {
            let k = t.split('=').next().unwrap_or("").trim();
            if k == key && t.contains('=') {
                out.push(format!("{key} = {value}"));
                done = true;
                continue;
            }
        }
        out.push(line.to_owned());
    }
    if !done {
        match header_at {
            Some(at) if current == section || section.is_empty() => {
                out.insert(at.min(out.len()), format!("{key} = {value}"));
            }
            _ => return Err(format!("config has no [{section}] section")),
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    Ok(s)
}

/// GET `path` (e.g. `/status`) from a CometBFT RPC server; the JSON-RPC `result`.
pub fn rpc(addr: SocketAddr, path: &str) -> Res<serde_json::Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("rpc {addr}{path}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .map_err(|e| format!("rpc {addr}{path}: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("rpc {addr}{path}: {e}"))?;
    let resp = String::from_utf8_lossy(&resp);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| format!("rpc {addr}{path}: no HTTP body in {resp:?}"))?;
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("rpc {addr}{path}: {e}: {body}"))?;
    match v.get("result") {
        Some(r) => Ok(r.clone()),
        None => Err(format!("rpc {addr}{path}: no result: {body}")),
    }
}

/// `latest_block_height` from `/status`.
pub fn height(n: &GoNode) -> Res<u64> {
    let st = rpc(n.rpc, "/status")?;
    st["sync_info"]["latest_block_height"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| format!("{}: /status has no latest_block_height: {st}", n.moniker))
}

/// Waits until `n` has committed block `h`.
pub fn wait_height(n: &GoNode, h: u64, timeout: Duration) -> Res<u64> {
    let deadline = now() + timeout;
    let mut last = Err(String::from("never polled"));
    while now() < deadline {
        last = height(n);
        if let Ok(got) = last {
            if got >= h {
                return Ok(got);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "{}: height {h} not reached within {timeout:?} (last: {last:?})",
        n.moniker
    ))
}

/// The peers in `/net_info` of `n`: `(node id, is_outbound, connected for)`.
pub fn peers(n: &GoNode) -> Res<Vec<Peer>> {
    let ni = rpc(n.rpc, "/net_info")?;
    let list = ni["peers"]
        .as_array()
        .ok_or_else(|| format!("{}: /net_info has no peers: {ni}", n.moniker))?;
    Ok(list
        .iter()
        .map(|p| Peer {
            id: p["node_info"]["id"].as_str().unwrap_or("").to_owned(),
            outbound: p["is_outbound"].as_bool().unwrap_or(false),
            connected_for: Duration::from_nanos(
                p["connection_status"]["Duration"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0),
            ),
            node_info: p["node_info"].clone(),
        })
        .collect())
}

/// A peer as `/net_info` shows it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its node ID.
    pub id: String,
    /// True if `n` dialed it.
    pub outbound: bool,
    /// How long this connection has been up.
    pub connected_for: Duration,
    /// Its NodeInfo as JSON.
    pub node_info: serde_json::Value,
}

/// Polls `f` every 500 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Res<T> {
    let deadline = now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::set_toml_key;

    #[test]
    fn set_toml_key_edits_one_section() {
        let text = "moniker = \"a\"\n\n[rpc]\nladdr = \"tcp://127.0.0.1:26657\"\n\n[p2p]\nladdr = \"tcp://0.0.0.0:26656\"\n# laddr = \"comment\"\n";
        let t = set_toml_key(text, "p2p", "laddr", "\"tcp://127.77.0.2:1\"").unwrap();
        assert_eq!(
            t,
            "moniker = \"a\"\n\n[rpc]\nladdr = \"tcp://127.0.0.1:26657\"\n\n[p2p]\nladdr = \"tcp://127.77.0.2:1\"\n# laddr = \"comment\"\n"
        );
        let t = set_toml_key(&t, "", "moniker", "\"b\"").unwrap();
        assert!(t.starts_with("moniker = \"b\"\n\n[rpc]"), "{t}");
        let t = set_toml_key(&t, "rpc", "unsafe", "true").unwrap();
        assert!(
            t.contains("[rpc]\nunsafe = true\nladdr = \"tcp://127.0.0.1:26657\""),
            "{t}"
        );
        assert_eq!(
            set_toml_key(&t, "mempool", "size", "1"),
            Err("config has no [mempool] section".to_owned())
        );
    }
}
