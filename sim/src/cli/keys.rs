//! `cometnet keygen` and `cometnet id`: node keys in CometBFT's `node_key.json` format.

use std::path::PathBuf;

use clap::Args;
use p2p::key::NodeKeyError;
use p2p::NodeKey;

use super::CliError;

/// Arguments of `cometnet keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key (created with mode 0600).
    #[arg(long, short, default_value = "node_key.json")]
    out: PathBuf,
    /// Replace an existing file (its old identity is lost).
    #[arg(long)]
    force: bool,
}

/// Arguments of `cometnet id`.
#[derive(Args, Debug)]
pub struct IdArgs {
    /// A node_key.json file, or a node home directory (reads config/node_key.json in it).
    #[arg(default_value = "node_key.json")]
    path: PathBuf,
}

fn key_error(e: NodeKeyError) -> CliError {
    match e {
        NodeKeyError::Io { ref source, .. } if source.kind() != std::io::ErrorKind::NotFound => {
            CliError::Failed(e.to_string())
        }
        other => CliError::Input(other.to_string()),
    }
}

/// Writes a fresh key and prints its node ID.
pub fn keygen(a: &KeygenArgs) -> Result<(), CliError> {
    if a.out.exists() && !a.force {
        return Err(CliError::Input(format!(
            "{}: already exists (use --force to replace it)",
            a.out.display()
        )));
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Failed(format!("{}: {e}", dir.display())))?;
    }
    let key = NodeKey::generate_os();
    key.save(&a.out).map_err(key_error)?;
    println!("{}", key.node_id());
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

/// Prints the node ID of a key file.
pub fn id(a: &IdArgs) -> Result<(), CliError> {
    let path = if a.path.is_dir() {
        a.path.join("config").join("node_key.json")
    } else {
        a.path.clone()
    };
    let key = NodeKey::load(&path).map_err(key_error)?;
    println!("{}", key.node_id());
    Ok(())
}
