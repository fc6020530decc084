//! One binlake per state: a lease with an owner and an expiry, taken before anything is
//! written, renewed while working, and checked inside every commit transaction (fencing).
//! [`Lease`] holds it for a command and gives it back when dropped.

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::warn;

use super::{StateStore, Store};
use crate::error::Result;

/// How long a lease lasts without renewal: a holder that vanished from another host is taken
/// over after this.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// The lease, held: renewed in the background (a long full load or a quiet source may go
/// longer than [`LEASE_TTL`] without committing) and released by [`Lease::release`] or,
/// failing that, when dropped.
pub struct Lease {
    store: Store,
    renewal: JoinHandle<()>,
    released: bool,
}

impl Lease {
    /// Takes the lease of `store`, or explains who holds it.
    pub async fn acquire(store: &Store) -> Result<Self> {
        store.acquire_lease().await?;
        let renewer = store.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_TTL / 3).await;
                if let Err(e) = renewer.renew_lease().await {
                    warn!(error = %e, "could not renew the state lease.");
                }
            }
        });
        Ok(Self { store: store.clone(), renewal, released: false })
    }

    /// Gives the lease back.
    pub async fn release(mut self) -> Result<()> {
        self.renewal.abort();
        self.released = true;
        self.store.release_lease().await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        if !self.released
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Best effort: a process that dies keeps it until it expires, or until a binlake on
            // this host sees that the holder is gone.
            let store = self.store.clone();
            runtime.spawn(async move {
                let _ = store.release_lease().await;
            });
        }
    }
}

/// This process in the lease: host, PID namespace, process id and a nonce.
pub(super) fn owner_id() -> String {
    format!("{}:{}:{}", process_namespace(), std::process::id(), rand::random::<u32>())
}

/// Host name and PID namespace: a process id means something only within both (two
/// containers may share a host name and still have separate PID namespaces).
fn process_namespace() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let pidns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default();
    format!("{}/{}", host.trim(), pidns.trim_start_matches("pid:").trim_matches(|c| c == '[' || c == ']'))
}

/// True when `owner` (namespace:pid:nonce) names a process of this host and PID namespace
/// that no longer exists.
pub(super) fn holder_is_dead(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(namespace), Some(pid)) = (parts.next(), parts.next()) else { return false };
    namespace == process_namespace() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}
