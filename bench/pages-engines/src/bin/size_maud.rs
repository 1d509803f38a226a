//! A binary that renders both pages with maud only, for the size comparison in bench/pages.md.

fn main() {
    // The inputs are changed by the arguments so the pages cannot be rendered at compile time.
    let mut wait = pages_engines::wait_input();
    let mut search = pages_engines::search_input();
    wait.ahead += std::env::args().count() as u64;
    search.total += std::env::args().count();
    println!("{}", pages_engines::maud_pages::wait(&wait).len());
    println!("{}", pages_engines::maud_pages::search(&search).len());
}
