//! Connections to PostgreSQL from synchronous code.
//!
//! The storage traits are synchronous (the writer is a plain thread; reads run on blocking
//! threads), and some callers sit inside the server's async runtime. So the store keeps its own
//! small tokio runtime whose only job is to drive the connections' sockets, and callers wait on a
//! `tokio_postgres::Client`'s futures with a plain executor: those futures talk to the
//! connection task through channels and need no runtime of their own, and waiting on them works
//! from any thread, async worker or not (a nested `Runtime::block_on` would panic there).

use crate::{Result, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

/// How long to wait for a connection before the caller gets an error (and a 503).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Maps a driver error to a storage error, keeping PostgreSQL's SQLSTATE and message (never the
/// `DETAIL`, which can quote row values): a broken rule (class 23, integrity constraint
/// violation: the capacity guard, one active booking a person) is [`StoreError::Refused`] and
/// `disk_full` (53100) is [`StoreError::Full`], as [`WriteBackend`](crate::WriteBackend) asks.
pub fn pg(error: tokio_postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        return StoreError::Database(format!("postgres: {error}"));
    };
    let state = db.code().code();
    let text = format!("{state}: {}", db.message());
    if state.starts_with("23") {
        StoreError::Refused(text)
    } else if *db.code() == tokio_postgres::error::SqlState::DISK_FULL {
        StoreError::Full(text)
    } else {
        StoreError::Database(text)
    }
}

/// Waits for a future on the calling thread.
pub fn wait<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// The runtime that drives every connection of one store. Shut down in the background when the
/// last handle goes, so a store may be dropped inside an async context.
pub struct Driver {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Driver {
    pub fn start() -> Result<Arc<Driver>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("yeyak-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("cannot start the postgres driver: {e}")))?;
        Ok(Arc::new(Driver {
            runtime: Some(runtime),
        }))
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle> {
        self.runtime
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .ok_or_else(|| StoreError::Database("the postgres driver has stopped".into()))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Parses a `postgres://` URL (or key=value string), with a connect timeout unless it names one.
pub fn config(url: &str) -> Result<Config> {
    let mut config: Config = url
        .parse()
        .map_err(|e| StoreError::Database(format!("bad database URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("yeyak");
    }
    Ok(config)
}

/// One connection and its prepared statements.
pub struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// Keeps the runtime driving this connection alive.
    _driver: Arc<Driver>,
}

impl Conn {
    pub fn open(driver: &Arc<Driver>, config: &Config) -> Result<Conn> {
        let (sent, received) = std::sync::mpsc::sync_channel(1);
        let config = config.clone();
        driver.handle()?.spawn(async move {
            match config.connect(NoTls).await {
                Ok((client, connection)) => {
                    let _ = sent.send(Ok(client));
                    if let Err(error) = connection.await {
                        tracing::warn!(error = %pg(error), "postgres connection closed");
                    }
                }
                Err(error) => {
                    let _ = sent.send(Err(pg(error)));
                }
            }
        });
        let client = received
            .recv()
            .map_err(|_| StoreError::Database("the postgres driver has stopped".into()))??;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            _driver: Arc::clone(driver),
        })
    }

    /// False once the server or the network closed the connection: it cannot be reused.
    pub fn is_open(&self) -> bool {
        !self.client.is_closed()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn prepared(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = wait(self.client.prepare(sql)).map_err(pg)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>> {
        let statement = self.prepared(sql)?;
        wait(self.client.query(&statement, params)).map_err(pg)
    }

    pub fn opt(&mut self, sql: &str, params: Params) -> Result<Option<Row>> {
        let statement = self.prepared(sql)?;
        wait(self.client.query_opt(&statement, params)).map_err(pg)
    }

    pub fn one(&mut self, sql: &str, params: Params) -> Result<Row> {
        let statement = self.prepared(sql)?;
        wait(self.client.query_one(&statement, params)).map_err(pg)
    }

    pub fn execute(&mut self, sql: &str, params: Params) -> Result<u64> {
        let statement = self.prepared(sql)?;
        wait(self.client.execute(&statement, params)).map_err(pg)
    }

    /// Runs statements without parameters (transaction control, DDL).
    pub fn batch(&self, sql: &str) -> Result<()> {
        wait(self.client.batch_execute(sql)).map_err(pg)
    }

    /// Runs `f` in a transaction of its own, committed when it succeeds.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.batch("BEGIN")?;
        match f(self) {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                if self.is_open() {
                    let _ = self.batch("ROLLBACK");
                }
                Err(error)
            }
        }
    }
}

/// Read connections each store holds at most, by default (`Options::read_connections`).
/// PostgreSQL serves a bounded number of connections (100 by default) for all nodes together,
/// and a read takes a millisecond or two: a request that finds all of them busy waits for one
/// rather than opening more.
pub const MAX_READ_CONNECTIONS: usize = 16;

/// How long a read waits for a free connection before it fails (a 503 to its client).
const CONNECTION_WAIT: Duration = Duration::from_secs(5);

/// Connections opened on demand, at most `max` (by default [`MAX_READ_CONNECTIONS`]), and
/// reused; a closed one is dropped instead of returned.
pub struct Pool {
    driver: Arc<Driver>,
    config: Config,
    max: usize,
    state: std::sync::Mutex<PoolState>,
    freed: std::sync::Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    /// Connections open or being opened, idle or lent out.
    open: usize,
}

impl Pool {
    pub fn new(driver: Arc<Driver>, config: Config, max: usize) -> Pool {
        Pool {
            driver,
            config,
            max: max.max(1),
            state: std::sync::Mutex::new(PoolState::default()),
            freed: std::sync::Condvar::new(),
        }
    }

    /// A pool of its own to the same database (its connections not shared with this one's).
    pub fn sibling(&self) -> Pool {
        Pool::new(Arc::clone(&self.driver), self.config.clone(), self.max)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut conn = match self.take()? {
            Some(conn) => conn,
            None => Conn::open(&self.driver, &self.config).inspect_err(|_| self.give_back(None))?,
        };
        let result = f(&mut conn);
        self.give_back(Some(conn).filter(Conn::is_open));
        result
    }

    /// An idle open connection, or `None` when the caller may open a new one.
    fn take(&self) -> Result<Option<Conn>> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let deadline = std::time::Instant::now() + CONNECTION_WAIT;
        loop {
            while let Some(conn) = state.idle.pop() {
                if conn.is_open() {
                    return Ok(Some(conn));
                }
                state.open -= 1;
            }
            if state.open < self.max {
                state.open += 1;
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Database(
                    "every database connection is busy".into(),
                ));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map_err(|_| poisoned())?
                .0;
        }
    }

    fn give_back(&self, conn: Option<Conn>) {
        if let Ok(mut state) = self.state.lock() {
            match conn {
                Some(conn) => state.idle.push(conn),
                None => state.open -= 1,
            }
        }
        self.freed.notify_one();
    }
}

fn poisoned() -> StoreError {
    StoreError::Database("connection pool lock poisoned".into())
}
