//! A PostgreSQL schema of its own for each test, so tests run in parallel on one database.
//! PostgreSQL must be running (CI and this machine have it at 127.0.0.1:5432, trust auth,
//! database `test`): when it is not, the test fails with a message saying so, never skips.

use std::sync::atomic::{AtomicU64, Ordering};

/// The server and database the tests use; `YEYAK_TEST_DATABASE_URL` overrides it.
pub fn base_url() -> String {
    std::env::var("YEYAK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn admin() -> postgres::Client {
    let url = base_url();
    postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url} ({e}). These tests need a running PostgreSQL \
             (trust auth, database `test`); start it or set YEYAK_TEST_DATABASE_URL."
        )
    })
}

/// A new, empty schema; dropped with everything in it when this goes.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub fn create() -> Schema {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "yeyak_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let sql = format!("CREATE SCHEMA {name}");
        if let Err(e) = on_own_thread(move || admin().batch_execute(&sql)) {
            panic!("cannot create schema {name}: {e}");
        }
        Schema { name }
    }

    /// A URL whose connections see only this schema, named after it in `pg_stat_activity`.
    pub fn url(&self) -> String {
        format!(
            "{}?options=-csearch_path%3D{}&application_name={}",
            base_url(),
            self.name,
            self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // A connection still closing must not hang the suite: give up after a few seconds and
        // leave the schema (its name says what made it).
        let sql = format!(
            "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        );
        let _ = on_own_thread(move || admin().batch_execute(&sql));
    }
}

/// Runs `f` on a thread of its own: the synchronous client starts a runtime, which may not
/// happen on a thread that is already running async tests.
fn on_own_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
