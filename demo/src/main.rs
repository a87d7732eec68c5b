use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = demo::Cli::parse();
    let code = demo::main_with(cli, demo::Env::from_process()).await;
    std::process::exit(code);
}
