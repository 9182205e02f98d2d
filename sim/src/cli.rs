//! Command-line options.

use std::net::SocketAddr;

/// Parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// Address to bind (`--listen`, default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Heartbeat interval sent in Hello (`--heartbeat-interval-ms`, default 41250).
    pub heartbeat_interval_ms: u64,
}

/// Usage text.
pub const USAGE: &str = "usage: gateway-sim [--listen 127.0.0.1:0] [--heartbeat-interval-ms 41250]";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the simulator.
    Run(Options),
    /// Print usage and exit.
    Help,
}

/// Parses arguments (without the program name); `--flag value` and `--flag=value` both work.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        heartbeat_interval_ms: 41_250,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                options.listen = v.parse().map_err(|_| format!("bad --listen address {v}"))?;
            }
            "--heartbeat-interval-ms" => {
                let v = value("--heartbeat-interval-ms")?;
                options.heartbeat_interval_ms = v
                    .parse()
                    .map_err(|_| format!("bad --heartbeat-interval-ms {v}"))?;
            }
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Command::Run(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let Ok(Command::Run(o)) = parse(args(&[
            "--listen",
            "127.0.0.1:9000",
            "--heartbeat-interval-ms=1000",
        ])) else {
            panic!("expected options");
        };
        assert_eq!(o.listen.port(), 9000);
        assert_eq!(o.heartbeat_interval_ms, 1000);
        assert!(parse(args(&["--bogus"])).is_err());
        assert!(parse(args(&["--listen"])).is_err());
        assert_eq!(parse(args(&["--help"])), Ok(Command::Help));
    }
}
