//! Why the service could not start: what `build` and the services it opens (secrets, the
//! world, the waiting room, the operator token) answer before any request is taken.

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("stored settings are unreadable: {0}")]
    Settings(String),
    /// Several nodes on one database: this node's `signing.keys` disagrees with the shared list
    /// (most often a data directory set up without the fleet's `secrets.key`).
    #[error("the shared signing keys: {0}")]
    SharedKeys(#[from] crate::secrets::SharedKeysError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
