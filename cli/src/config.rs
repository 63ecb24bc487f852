//! Where the client's settings come from: flags and environment first, then
//! the config file, then defaults; secrets from the environment or asked
//! for without echo.

use std::path::PathBuf;
use std::sync::Arc;

use praxis_core::cache::{KeyProvider, PassphraseKeyProvider};
use praxis_core::{ClientConfig, Error, PraxisClient};

use crate::args::Cli;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    data_dir: Option<PathBuf>,
    ca_cert: Option<PathBuf>,
}

const DEFAULT_SERVER: &str = "http://127.0.0.1:8787";

fn file_config(cli: &Cli) -> Result<FileConfig, Error> {
    let explicit = cli.config.clone();
    let path = explicit.clone().or_else(|| {
        directories::ProjectDirs::from("org", "Praxis", "praxis")
            .map(|p| p.config_dir().join("config.toml"))
    });
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|_| Error::InvalidInput {
            field: "config",
            reason: "the config file is not valid (keys: server, data_dir, ca_cert)",
        }),
        // Only a file named on purpose must exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(FileConfig::default())
        }
        Err(_) => Err(Error::InvalidInput {
            field: "config",
            reason: "the config file cannot be read",
        }),
    }
}

/// Flags and environment first, then the config file, then defaults.
fn server_url(cli: &Cli, file: &FileConfig) -> String {
    cli.server
        .clone()
        .or_else(|| file.server.clone())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
}

fn data_dir(cli: &Cli, file: &FileConfig) -> Result<PathBuf, Error> {
    if let Some(d) = cli.data_dir.as_ref().or(file.data_dir.as_ref()) {
        return Ok(d.clone());
    }
    directories::ProjectDirs::from("org", "Praxis", "praxis")
        .map(|p| p.data_dir().to_owned())
        .ok_or(Error::InvalidInput {
            field: "data_dir",
            reason: "no home directory; pass --data-dir",
        })
}

/// The extra trust anchors (DER) from the PEM file the flag, the
/// environment or the config file names; none without one.
fn extra_roots(cli: &Cli, file: &FileConfig) -> Result<Vec<Vec<u8>>, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let Some(path) = cli.ca_cert.as_ref().or(file.ca_cert.as_ref()) else {
        return Ok(Vec::new());
    };
    let unreadable = || Error::InvalidInput {
        field: "ca_cert",
        reason: "cannot read the CA file, or it holds no PEM certificate",
    };
    let roots = CertificateDer::pem_file_iter(path)
        .and_then(|certs| {
            certs
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|_| unreadable())?;
    if roots.is_empty() {
        return Err(unreadable());
    }
    Ok(roots)
}

/// A secret from the environment, or asked for on the terminal without echo.
pub(crate) fn secret(var: &str, prompt: &str) -> Result<String, Error> {
    if let Ok(v) = std::env::var(var) {
        return Ok(v);
    }
    rpassword::prompt_password(prompt).map_err(|_| Error::InvalidInput {
        field: "terminal",
        reason: "cannot read a secret here; set the environment variable instead",
    })
}

pub(crate) async fn open(cli: &Cli) -> Result<Arc<PraxisClient>, Error> {
    let file = file_config(cli)?;
    let extra_roots = extra_roots(cli, &file)?;
    let passphrase = secret("PRAXIS_PASSPHRASE", "Passphrase for the local data: ")?;
    let provider: Arc<dyn KeyProvider> = Arc::new(PassphraseKeyProvider::new(passphrase)?);
    let mut config = ClientConfig::new(server_url(cli, &file), data_dir(cli, &file)?, provider);
    config.http.extra_roots = extra_roots;
    // Shown in the user's list of signed-in devices.
    config.device = praxis_core::DeviceLabel {
        name: std::env::var("PRAXIS_DEVICE_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty()),
        platform: Some(praxis_core::protocol::Platform::Cli),
    };
    PraxisClient::open(config).await
}
