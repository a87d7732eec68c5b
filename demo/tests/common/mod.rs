//! What the demo's tests share: the binary, run with none of the user's SalesLoft settings.

use std::process::Command;

/// The demo binary with `args`, every `SALESLOFT_*` setting it reads removed, then `env` set:
/// a test sees only what it gives.
pub fn demo_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_salesloft"));
    command.args(args);
    for name in [
        "SALESLOFT_APP_ID",
        "SALESLOFT_APP_SECRET",
        "SALESLOFT_API_KEY",
        "SALESLOFT_API_BASE_URL",
        "SALESLOFT_ACCOUNTS_BASE_URL",
        "SALESLOFT_APP_URL",
        "SALESLOFT_CREDENTIALS",
        "SALESLOFT_MIRROR_DB",
        "SALESLOFT_CONNECTIONS_DB",
        "SALESLOFT_TOKEN_KEY",
        "SALESLOFT_TOKEN_KEY_OLD",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}
