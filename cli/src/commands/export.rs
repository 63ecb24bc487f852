//! `praxis export`: download everything the server holds about the user
//! (optionally encrypted under a passphrase), or decrypt such a file.

use std::path::{Path, PathBuf};

use praxis_core::{Error, PraxisClient};

use crate::config::secret;
use crate::output::Out;

pub(crate) async fn run(
    client: &PraxisClient,
    out: &Out,
    path: &Path,
    encrypt: bool,
    decrypt: Option<PathBuf>,
) -> Result<(), Error> {
    if let Some(input) = decrypt {
        let pass = secret("PRAXIS_EXPORT_PASSPHRASE", "Export passphrase: ")?;
        let plain = praxis_core::export::decrypt(std::fs::File::open(&input)?, &pass)?;
        std::fs::write(path, plain)?;
        out.done(
            &format!("Decrypted to {}.", path.display()),
            serde_json::json!({ "out": path }),
        );
        return Ok(());
    }
    let pass = if encrypt {
        Some(secret("PRAXIS_EXPORT_PASSPHRASE", "Export passphrase: ")?)
    } else {
        None
    };
    let bar = out.progress("Downloading your data", true);
    let tick = bar.clone();
    let n = client
        .account()
        .export_with_progress(path, pass.as_deref(), &move |bytes| {
            tick.set_position(bytes)
        })
        .await;
    bar.finish_and_clear();
    let n = n?;
    out.done(
        &format!(
            "Your data ({n} bytes{}) is in {}.",
            if encrypt { ", encrypted" } else { "" },
            path.display()
        ),
        serde_json::json!({ "out": path, "bytes": n, "encrypted": encrypt }),
    );
    Ok(())
}
