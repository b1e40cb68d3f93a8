use clap::Parser;

fn main() {
    let cli = phoenix::cli::Cli::parse();
    std::process::exit(phoenix::app::run(&cli));
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
