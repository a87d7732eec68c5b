//! `cargo run -p salesloft-mock -- --port 4010`: a SalesLoft sandbox for scripts and other languages.

use clap::Parser;
use salesloft_mock::{Config, Sandbox};

#[derive(Parser)]
#[command(about = "A local SalesLoft sandbox server: OAuth, the v2 API, rate limits and faults")]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 4010)]
    port: u16,
    /// Client id of the registered OAuth app.
    #[arg(long, default_value = "sandbox-client-id")]
    client_id: String,
    /// Client secret of the registered OAuth app.
    #[arg(long, default_value = "sandbox-client-secret")]
    client_secret: String,
    /// An API key the sandbox accepts as a bearer token (default: ak_ followed by 64 zeros).
    #[arg(long)]
    api_key: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 7200)]
    token_ttl: i64,
    /// Cost budget per minute.
    #[arg(long, default_value_t = 600)]
    rate_limit: u32,
    /// Guard `/__admin`: only requests with `Authorization: Bearer <token>` are answered.
    #[arg(long, env = "SALESLOFT_MOCK_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Teams to serve; each team after the first gets its own API key and admin user, listed
    /// by `GET /__admin/teams`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    teams: u32,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut config = Config {
        port: args.port,
        client_id: args.client_id,
        client_secret: args.client_secret,
        token_ttl_seconds: args.token_ttl,
        rate_limit_per_minute: args.rate_limit,
        admin_token: args.admin_token,
        ..Config::default()
    };
    if let Some(key) = args.api_key {
        config.api_keys = vec![key];
    }
    let sandbox = Sandbox::start(config.clone()).await?;
    let more = usize::try_from(args.teams - 1).unwrap_or(0);
    sandbox
        .add_teams(more)
        .map_err(|e| std::io::Error::other(e.0))?;
    println!("SalesLoft sandbox running");
    println!("  API base URL:       {}", sandbox.api_base_url());
    println!("  accounts base URL:  {}", sandbox.accounts_base_url());
    println!("  client id:          {}", config.client_id);
    println!("  client secret:      {}", config.client_secret);
    println!("  API key:            {}", sandbox.api_key());
    if args.teams > 1 {
        println!(
            "  teams:              {} (each one's id and API key: GET /__admin/teams)",
            args.teams
        );
    }
    println!(
        "  redirect URIs:      {} and any http://127.0.0.1:<port>/ or http://localhost:<port>/",
        config.redirect_uris.join(", ")
    );
    println!(
        "  token TTL:          {} s; rate limit: {} a minute",
        config.token_ttl_seconds, config.rate_limit_per_minute
    );
    println!(
        "  admin:              {}/__admin/ (requests, faults, latency, expire_tokens, clock, settings, seed_people, seed/{{resource}}, records, teams; ?team=ID){}",
        sandbox.api_base_url(),
        if config.admin_token.is_some() {
            "; needs the admin token"
        } else {
            ""
        }
    );
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
