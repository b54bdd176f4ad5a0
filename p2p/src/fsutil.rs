//! Crash-safe file writes shared by `node_key.json` and `addrbook.json`:
//! [`write_atomic`] (temp file + fsync + rename) and [`remove_stale_temps`],
//! which clears the temp files of writers that died mid-write.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` so that a crash at any point leaves either the old
/// file or the new one, never a torn mix: write a temporary file in the same
/// directory, fsync it, rename it over `path`, then fsync the directory.
///
/// `mode` is the Unix permission of the new file (e.g. `0o600` for keys).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    remove_stale_temps(path);
    let mut tmp_name = temp_prefix(name);
    tmp_name.push(std::process::id().to_string());
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        if let Ok(d) = fs::File::open(&dir) {
            // Persist the rename itself; failure here does not undo the write.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `.NAME.tmp`: the temp-file prefix of `NAME`; the writer's pid follows.
fn temp_prefix(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut p = std::ffi::OsString::from(".");
    p.push(name);
    p.push(".tmp");
    p
}

/// True if process `pid` is known to be gone (Linux `/proc`); `false` when it
/// runs or when this cannot be told (no `/proc`), so only certain leftovers go.
fn process_is_gone(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    proc_root.join("self").exists() && !proc_root.join(pid.to_string()).exists()
}

/// Removes the temp files [`write_atomic`] left next to `path` when its writer
/// was killed mid-write (`.NAME.tmp<pid>` whose process is gone). Temp files
/// of live writers, including this process, stay. Best effort: errors are
/// ignored. Returns how many files were removed.
pub fn remove_stale_temps(path: &Path) -> usize {
    let Some(name) = path.file_name() else {
        return 0;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = temp_prefix(name);
    let prefix = prefix.to_string_lossy();
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix.as_ref()))
            .and_then(|digits| digits.parse::<u32>().ok())
        else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if pid != std::process::id()
            && is_file
            && process_is_gone(pid)
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("p2p-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.json")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_temps_of_dead_writers_are_removed() {
        let dir = std::env::temp_dir().join(format!("p2p-fsutil-stale-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("addrbook.json");
        // A pid that is certainly gone: a child that has been waited for.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mine = std::process::id();
        for n in [
            format!(".addrbook.json.tmp{dead}"),
            format!(".addrbook.json.tmp{mine}"),
            format!(".addrbook.json.tmp{dead}x"),
            format!(".other.json.tmp{dead}"),
        ] {
            fs::write(dir.join(n), b"torn").unwrap();
        }
        assert_eq!(remove_stale_temps(&p), 1);
        assert_eq!(remove_stale_temps(&p), 0);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut want = [
            format!(".addrbook.json.tmp{dead}x"),
            format!(".addrbook.json.tmp{mine}"),
            format!(".other.json.tmp{dead}"),
        ];
        want.sort();
        assert_eq!(names, want);
        // A save clears them too (and replaces this process's own temp file).
        fs::write(dir.join(format!(".addrbook.json.tmp{dead}")), b"torn").unwrap();
        write_atomic(&p, b"ok", 0o644).unwrap();
        assert!(!dir.join(format!(".addrbook.json.tmp{dead}")).exists());
        assert!(!dir.join(format!(".addrbook.json.tmp{mine}")).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
