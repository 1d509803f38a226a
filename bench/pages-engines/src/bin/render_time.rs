//! Render time per page for each engine, same inputs: `cargo run --release --bin render_time`.
//! Each figure is the median of 15 rounds of 20,000 renders (after one round of warm-up), in
//! microseconds per page; the rounds alternate engines so a busy machine slows each alike.

use pages_engines::{askama_pages, format_pages, maud_pages, search_input, wait_input};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 15;
const RENDERS: u32 = 20_000;

fn per_page_us(render: &dyn Fn() -> String) -> f64 {
    let started = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..RENDERS {
        bytes += black_box(render()).len();
    }
    black_box(bytes);
    started.elapsed().as_secs_f64() * 1e6 / f64::from(RENDERS)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// An engine's name and how it renders each page.
type Engine<'a> = (
    &'a str,
    Box<dyn Fn() -> String + 'a>,
    Box<dyn Fn() -> String + 'a>,
);

fn main() {
    let wait = wait_input();
    let search = search_input();
    let engines: [Engine; 3] = [
        (
            "format!",
            Box::new(|| format_pages::wait(&wait)),
            Box::new(|| format_pages::search(&search)),
        ),
        (
            "maud",
            Box::new(|| maud_pages::wait(&wait)),
            Box::new(|| maud_pages::search(&search)),
        ),
        (
            "askama",
            Box::new(|| askama_pages::wait(&wait)),
            Box::new(|| askama_pages::search(&search)),
        ),
    ];
    for (_, w, s) in &engines {
        per_page_us(w.as_ref());
        per_page_us(s.as_ref());
    }
    let mut times = vec![(Vec::new(), Vec::new()); engines.len()];
    for _ in 0..ROUNDS {
        for ((_, w, s), (wt, st)) in engines.iter().zip(times.iter_mut()) {
            wt.push(per_page_us(w.as_ref()));
            st.push(per_page_us(s.as_ref()));
        }
    }
    println!(
        "| engine | /wait (µs/page, {} B) | /search (µs/page, {} B) |",
        format_pages::wait(&wait).len(),
        format_pages::search(&search).len()
    );
    println!("| --- | --- | --- |");
    for ((name, _, _), (wt, st)) in engines.iter().zip(times) {
        println!("| {name} | {:.2} | {:.2} |", median(wt), median(st));
    }
}
