//! A binary that builds the inputs and renders nothing: the floor of the size comparison.

fn main() {
    let wait = pages_engines::wait_input();
    let search = pages_engines::search_input();
    println!("{}", wait.ahead + std::env::args().count() as u64);
    println!("{}", search.total + search.clinics.len());
}
