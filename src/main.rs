//! The `tcpstat` binary: everything happens in [`tcpstat::app`]; this only
//! sets the allocator's policy and turns the outcome into the process exit
//! status.

fn main() {
    tcpstat::sys::process::keep_big_allocations_mapped();
    std::process::exit(tcpstat::app::main_with_args(std::env::args_os()));
}
