//! The `tcpstat` binary: everything happens in [`tcpstat::app`]; this only
//! turns its outcome into the process exit status.

fn main() {
    std::process::exit(tcpstat::app::main_with_args(std::env::args_os()));
}
