//! `publisher keygen`: an ed25519 key pair for signed pushes. The secret goes to a new file
//! (mode 0600); the public key is printed, for the workers' `--trusted-keys`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::cli::KeygenArgs;
use crate::{Failure, Finished};

pub(crate) fn run(args: &KeygenArgs) -> Result<Finished, Failure> {
    let (secret, public) = crawlfleet_bus::signature::generate()
        .map_err(|e| Failure::usage(format!("cannot read system randomness: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", args.out.display())))?;
    writeln!(file, "{secret}")
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", args.out.display())))?;
    println!(
        "secret key written to {} (keep it secret; sign with --sign-key)",
        args.out.display()
    );
    println!("public key: {public}");
    println!("trust it on workers with: --trusted-keys {public}  (or TRUSTED_KEYS={public})");
    println!("and on publishers, so promote and rollback build only on pushes signed by it");
    Ok(Finished::Done)
}
