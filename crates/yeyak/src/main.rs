mod bench;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "yeyak", version, about = "yeyak (예약): a national vaccination booking system")]
enum Cli {
    /// Measure durable booking throughput through the group-commit writer against a baseline.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Bench(args) => bench::run(args),
    }
}
