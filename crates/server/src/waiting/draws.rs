//! Draw numbers of people verified in the pre-queue, committed together on a thread of their
//! own (`queue-draws`).
//!
//! A number must be durable before the ticket carrying it is handed out, so each draw was a
//! transaction with its own sync on the waiting room's file, under the file's one connection.
//! In the full-scale 2021 replay the pre-queue's crowd verified about 3,000 times a second,
//! more than one sync each could keep up with: the verifications queued on that connection,
//! the blocking pool grew to hundreds of threads waiting for it (the server's memory up 500 MB
//! in two seconds), and the arrivals' number blocks, written on the same connection, waited
//! behind them, so arrivals stopped for two seconds (`bench/loadtest-53-54-2026-12-06-shards/`).
//! Here every draw waiting when the thread comes round is committed in one transaction (at
//! most [`MAX_BATCH`]), the way the booking writer commits a batch.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use store::QueueStore;

/// Draws waiting at most; a verification beyond is refused (503) rather than queued without
/// bound behind a stalled disk.
pub const MAX_WAITING: usize = 8_192;
/// Draws committed in one transaction at most.
pub const MAX_BATCH: usize = 1_024;

type Reply = tokio::sync::oneshot::Sender<Result<u64, String>>;
/// Where a queued draw's number (or why there is none) comes.
pub type Answer = tokio::sync::oneshot::Receiver<Result<u64, String>>;

struct Request {
    queue: u32,
    person: u64,
    reply: Reply,
}

/// Why a draw number was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    #[error("{MAX_WAITING} draws are already waiting")]
    Busy,
    #[error("the draw could not be stored: {0}")]
    Storage(String),
}

/// The way to the `queue-draws` thread; the thread ends when this is dropped.
pub struct Draws {
    inbox: SyncSender<Request>,
}

impl Draws {
    /// Starts the thread that commits draws on `store`.
    pub fn start(store: Arc<dyn QueueStore>) -> std::io::Result<Draws> {
        let (inbox, requests) = std::sync::mpsc::sync_channel(MAX_WAITING);
        std::thread::Builder::new()
            .name("queue-draws".into())
            .spawn(move || draw_forever(store.as_ref(), &requests))?;
        Ok(Draws { inbox })
    }

    /// `person`'s draw number in queue `queue`, once it is durable. Blocks: call it off the
    /// async workers.
    pub fn draw(&self, queue: u32, person: u64) -> Result<u64, DrawError> {
        let answer = self.queue(queue, person)?.blocking_recv();
        Self::read(answer)
    }

    /// The number a draw [`Draws::queue`]d was given, once it is durable, awaited without
    /// holding a thread.
    pub async fn answer(answer: Answer) -> Result<u64, DrawError> {
        Self::read(answer.await)
    }

    fn read(
        answer: Result<Result<u64, String>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<u64, DrawError> {
        answer
            .map_err(|_| DrawError::Storage("the draw thread has stopped".into()))?
            .map_err(DrawError::Storage)
    }

    /// Queues the draw (never waits: [`DrawError::Busy`] when [`MAX_WAITING`] are waiting); its
    /// answer comes on the receiver.
    pub fn queue(&self, queue: u32, person: u64) -> Result<Answer, DrawError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = Request {
            queue,
            person,
            reply,
        };
        match self.inbox.try_send(request) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(DrawError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                Err(DrawError::Storage("the draw thread has stopped".into()))
            }
        }
    }
}

fn draw_forever(store: &dyn QueueStore, requests: &Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(next) = requests.try_recv()
        {
            batch.push(next);
        }
        commit(store, batch);
    }
}

/// Draws `batch`'s numbers, one transaction per queue in it (one, but for the moment a new
/// opening replaces the last), and answers each request.
fn commit(store: &dyn QueueStore, mut batch: Vec<Request>) {
    batch.sort_by_key(|request| request.queue);
    while let Some(queue) = batch.first().map(|request| request.queue) {
        let split = batch.partition_point(|request| request.queue == queue);
        let rest = batch.split_off(split);
        let persons: Vec<u64> = batch.iter().map(|request| request.person).collect();
        match store.draw_numbers(queue, &persons) {
            Ok(numbers) => {
                for (request, number) in batch.into_iter().zip(numbers) {
                    let _ = request.reply.send(Ok(number));
                }
            }
            Err(error) => {
                let error = error.to_string();
                for request in batch {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
        batch = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use store::StoreError;

    /// A store that counts its transactions and can be made to fail or to hang (while the
    /// test holds `stall`).
    #[derive(Default)]
    struct Counting {
        drawn: Mutex<Vec<(u32, u64)>>,
        transactions: Mutex<Vec<usize>>,
        fail: std::sync::atomic::AtomicBool,
        stall: Mutex<()>,
        entered: std::sync::atomic::AtomicBool,
    }

    impl QueueStore for Counting {
        fn current_queue(&self) -> store::Result<Option<(u32, String)>> {
            Ok(None)
        }
        fn save_queue(
            &self,
            _: u32,
            _: Option<u64>,
            _: u64,
            _: &str,
            _: i64,
        ) -> store::Result<bool> {
            Ok(true)
        }
        fn draw_numbers(&self, id: u32, persons: &[u64]) -> store::Result<Vec<u64>> {
            self.entered
                .store(true, std::sync::atomic::Ordering::SeqCst);
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(StoreError::Database("disk gone".into()));
            }
            // Hold the transaction a little, as a sync does, so that draws pile up behind it.
            std::thread::sleep(std::time::Duration::from_millis(5));
            drop(self.stall.lock().unwrap());
            self.transactions.lock().unwrap().push(persons.len());
            let mut drawn = self.drawn.lock().unwrap();
            Ok(persons
                .iter()
                .map(|&person| {
                    let known = drawn
                        .iter()
                        .filter(|(q, _)| *q == id)
                        .position(|(_, p)| *p == person);
                    known.unwrap_or_else(|| {
                        drawn.push((id, person));
                        drawn.iter().filter(|(q, _)| *q == id).count() - 1
                    }) as u64
                })
                .collect())
        }
    }

    #[test]
    fn a_crowd_of_draws_shares_transactions_and_each_gets_its_own_number() {
        let store = Arc::new(Counting::default());
        let draws = Arc::new(Draws::start(store.clone()).unwrap());
        let numbers: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..200_u64)
                .map(|person| {
                    let draws = Arc::clone(&draws);
                    scope.spawn(move || draws.draw(7, person).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..200).collect::<Vec<u64>>(), "dense, one each");
        let transactions = store.transactions.lock().unwrap().clone();
        assert_eq!(transactions.iter().sum::<usize>(), 200);
        assert!(
            transactions.len() < 100,
            "200 draws at once took {} transactions",
            transactions.len()
        );
        // The same person again: the same number.
        assert_eq!(draws.draw(7, 5).unwrap(), numbers[5]);
    }

    #[test]
    fn draws_beyond_the_bound_are_refused_while_the_disk_stalls_and_the_rest_are_answered() {
        let store = Arc::new(Counting::default());
        let stalled = store.stall.lock().unwrap();
        let draws = Draws::start(store.clone()).unwrap();
        // The thread takes the first into a transaction that hangs; MAX_WAITING more wait.
        let first = draws.queue(7, 0).unwrap();
        while !store.entered.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let waiting: Vec<Answer> = (1..=MAX_WAITING as u64)
            .map(|person| draws.queue(7, person).unwrap())
            .collect();
        assert_eq!(draws.queue(7, 999_999).unwrap_err(), DrawError::Busy);
        drop(stalled);
        assert_eq!(first.blocking_recv().unwrap(), Ok(0));
        for (i, answer) in waiting.into_iter().enumerate() {
            assert_eq!(answer.blocking_recv().unwrap(), Ok(i as u64 + 1));
        }
    }

    #[test]
    fn a_failed_commit_answers_every_draw_in_it_with_the_error() {
        let store = Arc::new(Counting::default());
        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        let draws = Draws::start(store.clone()).unwrap();
        assert!(matches!(draws.draw(7, 1), Err(DrawError::Storage(e)) if e.contains("disk gone")));
        store
            .fail
            .store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(draws.draw(7, 1), Ok(0), "the next one is drawn");
    }
}
