use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = phoenix::cli::Cli::parse();
    phoenix::app::run(&cli)
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
