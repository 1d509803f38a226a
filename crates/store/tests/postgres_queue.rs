//! The waiting room shared by several nodes on one PostgreSQL: what each node's `PgQueue` may
//! rely on when the others write at the same time. Each "node" here is a store opened on its own,
//! with connections of its own, as separate processes would be.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

#[path = "support/pg.rs"]
mod pg;

use pg::Schema;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use store::postgres::PgQueue;
use store::{QueueReport, QueueStore, SharedKeys};

fn node(schema: &Schema) -> Arc<PgQueue> {
    let (_writer, reader) = store::postgres::open(&schema.url()).unwrap();
    reader.queue_store()
}

#[test]
fn draw_numbers_from_several_nodes_at_once_are_dense_and_one_per_person() {
    let schema = Schema::create();
    let nodes: Vec<Arc<PgQueue>> = (0..3).map(|_| node(&schema)).collect();
    // 3 nodes × 2 threads, each drawing for people 0..150 with overlaps: every person verifies
    // on several nodes, as a person with tabs on several nodes would.
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let node = Arc::clone(&nodes[t % 3]);
            std::thread::spawn(move || {
                (0..150u64)
                    .filter(|p| (p + t as u64).is_multiple_of(2) || p.is_multiple_of(5))
                    .map(|p| (p, node.draw_number(7, p).unwrap()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut of_person: HashMap<u64, u64> = HashMap::new();
    for thread in threads {
        for (person, draw) in thread.join().unwrap() {
            let first = *of_person.entry(person).or_insert(draw);
            assert_eq!(first, draw, "person {person} got two numbers");
        }
    }
    let draws: HashSet<u64> = of_person.values().copied().collect();
    assert_eq!(draws.len(), of_person.len(), "a number given to two people");
    assert_eq!(
        draws,
        (0..of_person.len() as u64).collect(),
        "numbers are dense from 0"
    );
    assert_eq!(nodes[1].people_drawn(7).unwrap(), of_person.len() as u64);
    assert_eq!(
        nodes[2].people_drawn(8).unwrap(),
        0,
        "each queue its own draw"
    );
    assert_eq!(nodes[2].draw_number(8, 3).unwrap(), 0);
}

/// Drawn together (the `queue-draws` thread's batches), numbers are what draws one after
/// another give, and they interleave with another node's single draws without a gap or a twin.
#[test]
fn draws_together_are_draws_one_after_another() {
    let schema = Schema::create();
    let (a, b) = (node(&schema), node(&schema));
    assert_eq!(a.draw_number(7, 99).unwrap(), 0);
    assert_eq!(
        b.draw_numbers(7, &[10, 20, 10, 99, 30]).unwrap(),
        [1, 2, 1, 0, 3]
    );
    assert_eq!(a.draw_number(7, 40).unwrap(), 4);
    assert_eq!(b.draw_numbers(7, &[40, 50]).unwrap(), [4, 5]);
    assert_eq!(a.people_drawn(7).unwrap(), 6);
    assert_eq!(b.draw_numbers(7, &[]).unwrap(), Vec::<u64>::new());
}

#[test]
fn reports_are_taken_once_in_the_order_they_were_left() {
    let schema = Schema::create();
    let (a, b) = (node(&schema), node(&schema));
    let report = |node: &str, at_ms: i64, started: Vec<u64>| QueueReport {
        node: node.into(),
        at_ms,
        active: (0..at_ms as u64 / 10).collect(),
        latency_p99_ms: (at_ms % 2 == 0).then_some(40),
        saturated: at_ms > 20,
        empty: started.iter().map(|r| r * 10).collect(),
        started,
    };
    a.report(1, &report("a", 10, vec![1, 2])).unwrap();
    b.report(1, &report("b", 21, vec![])).unwrap();
    b.report(2, &report("b", 30, vec![9])).unwrap();
    a.report(1, &report("a", 40, vec![3])).unwrap();
    assert_eq!(
        b.take_reports(1).unwrap(),
        vec![
            report("a", 10, vec![1, 2]),
            report("b", 21, vec![]),
            report("a", 40, vec![3])
        ]
    );
    assert_eq!(a.take_reports(1).unwrap(), vec![], "taken once");
    assert_eq!(a.take_reports(2).unwrap(), vec![report("b", 30, vec![9])]);
    // A report left for queue 2 just as queue 3 opened is dropped, not kept forever.
    b.report(2, &report("b", 50, vec![])).unwrap();
    assert_eq!(a.take_reports(3).unwrap(), vec![]);
    assert_eq!(
        a.take_reports(2).unwrap(),
        vec![],
        "dropped with queue 3's first take"
    );
}

#[test]
fn shared_keys_are_created_once_and_changed_by_compare_and_swap() {
    let schema = Schema::create();
    let (a, b) = (node(&schema), node(&schema));
    assert_eq!(a.shared_keys("queue.keys").unwrap(), None);
    assert!(a.put_shared_keys("queue.keys", None, "1 100 aa\n").unwrap());
    assert!(
        !b.put_shared_keys("queue.keys", None, "1 100 bb\n").unwrap(),
        "the second node to start adopts the first's keys"
    );
    let (lines, revision) = b.shared_keys("queue.keys").unwrap().unwrap();
    assert_eq!(lines, "1 100 aa\n");
    assert!(
        b.put_shared_keys("queue.keys", Some(revision), "1 100 aa\n2 200 cc\n")
            .unwrap()
    );
    assert!(
        !a.put_shared_keys("queue.keys", Some(revision), "1 100 aa\n2 200 dd\n")
            .unwrap(),
        "two nodes rotating at once: the second's change is refused"
    );
    assert_eq!(
        a.shared_keys("queue.keys").unwrap(),
        Some(("1 100 aa\n2 200 cc\n".to_string(), revision + 1))
    );
    assert_eq!(a.shared_keys("signing.keys").unwrap(), None);
}
