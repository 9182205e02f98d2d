//! `gateway-sim` binary: bind, announce the address on stdout, serve until SIGINT/SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use gateway_sim::cli::{self, Command};
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gateway-sim: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gateway-sim: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{{\"listening\":\"http://{addr}\"}}")?;
        stdout.flush()?;
        drop(stdout);
        gateway_sim::log!("listening on {addr}");
        gateway_sim::run(listener, options.heartbeat_interval_ms, shutdown_signal()).await
    });
    match result {
        Ok(()) => {
            gateway_sim::log!("shutting down");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gateway-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers, fall back to ctrl-c only.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
