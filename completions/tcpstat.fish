# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tcpstat_global_optspecs
    string join \n t/tcp u/udp U/udplite w/raw x/unix A/query= f/family= a/all l/listening 4/inet 6/inet6 N/netns= all-netns n/numeric numeric-hosts numeric-ports numeric-users p/programs users o/timers i/info m/memory e/extend W/wide H/no-header json s/summary explain K/kill dry-run yes sort= reverse top= c/continuous= events= lifetime count= port= sport= dport= state= src= dst= pid= program= uid= source= parallel= owner-source= v/verbose h/help V/version
end

function __fish_tcpstat_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tcpstat_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tcpstat_using_subcommand
    set -l cmd (__fish_tcpstat_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tcpstat -n "__fish_tcpstat_needs_command" -s A -l query -l socket -d 'Show the sockets of these tables, as ss\'s -A (comma-separated)' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s f -l family -d 'Only sockets of FAMILY, as ss\'s -f: `inet`, `inet6` or `unix`' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s N -l netns -d 'List the sockets of another network namespace, or of all (`all`)' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l sort -d 'Order the rows by KEY, largest first (each pass with -c)' -r -f -a "rtt\t'smoothed round-trip time (tcp_info)'
retrans\t'segments retransmitted over the connection\'s life (tcp_info)'
send-q\t'bytes sent and not yet acknowledged'
recv-q\t'bytes received and not yet read'
rate\t'bytes acknowledged plus received per second (tcp_info, needs -c)'
bytes\t'bytes acknowledged plus received (tcp_info)'"
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l top -d 'Show only the first N rows (after --sort; per pass with -c)' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s c -l continuous -d 'Repeat the listing every SECS seconds, like netstat -c (default 1)' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l events -d 'Print what changes: new sockets, state changes, sockets gone' -r -f -a "auto\t'exact where the privilege and the kernel allow it, else sampled'
exact\t'every state change from the kernel\'s tracepoint (BPF; needs root)'
sampled\t'polls and destroy notifications, as without privilege'"
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l count -d 'Stop after N passes of -c or --events' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l port -d 'Only sockets with one of PORTS at either end' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l sport -d 'Only sockets whose local (source) port is in PORTS' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l dport -d 'Only sockets whose remote (destination) port is in PORTS' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l state -d 'Only sockets in these states (comma-separated)' -r -f -a "established\t''
syn-sent\t''
syn-recv\t''
fin-wait-1\t''
fin-wait-2\t''
time-wait\t''
close\t''
close-wait\t''
last-ack\t''
listen\t''
closing\t''
all\t''
connected\t''
synchronized\t''
bucket\t''
big\t''
teardown\t''"
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l src -d 'Only sockets whose local address is in ADDR[/PREFIX]' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l dst -d 'Only sockets whose remote address is in ADDR[/PREFIX]' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l pid -d 'Only sockets held open by process PID' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l program -d 'Only sockets held open by a process named NAME (its comm)' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l uid -d 'Only sockets owned by UID (a number or a user name)' -r
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l source -d 'Where to read sockets from' -r -f -a "auto\t'netlink, falling back to /proc when it cannot be used'
netlink\t'the kernel\'s sock_diag netlink interface'
proc\t'/proc/net/tcp and /proc/net/tcp6'"
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l parallel -d 'Whether a big TCP dump runs as two dumps side by side' -r -f -a "auto\t'from 20,000 TCP sockets in the namespace, on two CPUs or more'
never\t'one dump'
always\t'two dumps whenever both families, and more than listeners, are dumped'"
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l owner-source -d 'Where -p finds which process owns a socket' -r -f -a "auto\t'the BPF iterator, falling back to /proc when it cannot be used'
bpf\t'a BPF task-file iterator (needs root and kernel BTF)'
proc\t'one readlink per descriptor in /proc/*/fd'"
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s t -l tcp -d 'Show TCP sockets (the default when no protocol is named)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s u -l udp -d 'Show UDP sockets'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s U -l udplite -d 'Show UDP-Lite sockets (netstat\'s `udpl`)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s w -l raw -d 'Show raw sockets'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s x -l unix -d 'Show unix domain sockets (netstat -x)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s a -l all -d 'Show listening and non-listening sockets'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s l -l listening -d 'Show only listening sockets'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s 4 -l inet -d 'Only IPv4 sockets'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s 6 -l inet6 -d 'Only IPv6 sockets'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l all-netns -d 'Every network namespace on the host: the same as -N all'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s n -l numeric -d 'Show numeric addresses, ports and users (no name lookups)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l numeric-hosts -d 'Show numeric addresses (netstat\'s --numeric-hosts)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l numeric-ports -d 'Show numeric ports (netstat\'s --numeric-ports)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l numeric-users -d 'Show numeric user ids (netstat\'s --numeric-users)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s p -l programs -l processes -d 'Show the PID and program name owning each socket'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l users -d 'Show every process holding each socket, ss style (implies -p)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s o -l timers -l options -d 'Show the kernel\'s timer of each socket'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s i -l info -d 'Show what the kernel knows inside each connection (tcp_info)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s m -l memory -d 'Show each socket\'s memory (skmem)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s e -l extend -l extended -d 'Show the owning user and the socket inode'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s W -l wide -d 'Never truncate addresses or program names'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s H -l no-header -d 'Leave out the table\'s header lines, as ss -H'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l json -d 'Print JSON instead of text'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s s -l summary -d 'Summarise instead of listing: counts per state, who holds the teardown states, and plain-language findings'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l explain -d 'Add a short note to each socket in a teardown or unusual state'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s K -l kill -d 'Close every socket the filter matches (sock_diag SOCK_DESTROY)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l dry-run -d 'With -K: list what would be closed, and close nothing'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l yes -d 'With -K: close without asking for confirmation'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l reverse -d 'With --sort, smallest first (rows without the key still last)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -l lifetime -d 'With --events: when a connection closes, how long it lived'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s v -l verbose -d 'Say more on stderr: which source was used, messages skipped'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -s V -l version -d 'Print version'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -a "top" -d 'A live, sortable, filterable view of the sockets, refreshed every SECS of -c (default 1)'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -a "why" -d 'Tell whether a server could bind() PORT now, and what holds it'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -a "serve" -d 'Serve connection-state metrics for Prometheus, or write them for node_exporter\'s textfile collector'
complete -c tcpstat -n "__fish_tcpstat_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s N -l netns -d 'List the sockets of another network namespace, or of all (`all`)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s c -l continuous -d 'Repeat the listing every SECS seconds, like netstat -c (default 1)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l source -d 'Where to read sockets from' -r -f -a "auto\t'netlink, falling back to /proc when it cannot be used'
netlink\t'the kernel\'s sock_diag netlink interface'
proc\t'/proc/net/tcp and /proc/net/tcp6'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l parallel -d 'Whether a big TCP dump runs as two dumps side by side' -r -f -a "auto\t'from 20,000 TCP sockets in the namespace, on two CPUs or more'
never\t'one dump'
always\t'two dumps whenever both families, and more than listeners, are dumped'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l owner-source -d 'Where -p finds which process owns a socket' -r -f -a "auto\t'the BPF iterator, falling back to /proc when it cannot be used'
bpf\t'a BPF task-file iterator (needs root and kernel BTF)'
proc\t'one readlink per descriptor in /proc/*/fd'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s a -l all -d 'Show listening and non-listening sockets'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s l -l listening -d 'Show only listening sockets'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l all-netns -d 'Every network namespace on the host: the same as -N all'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s n -l numeric -d 'Show numeric addresses, ports and users (no name lookups)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l numeric-hosts -d 'Show numeric addresses (netstat\'s --numeric-hosts)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l numeric-ports -d 'Show numeric ports (netstat\'s --numeric-ports)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l numeric-users -d 'Show numeric user ids (netstat\'s --numeric-users)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -l json -d 'Print JSON instead of text'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s v -l verbose -d 'Say more on stderr: which source was used, messages skipped'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l addr -d 'The address to bind (default: the dual-stack wildcard `[::]`)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s N -l netns -d 'List the sockets of another network namespace, or of all (`all`)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s c -l continuous -d 'Repeat the listing every SECS seconds, like netstat -c (default 1)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l source -d 'Where to read sockets from' -r -f -a "auto\t'netlink, falling back to /proc when it cannot be used'
netlink\t'the kernel\'s sock_diag netlink interface'
proc\t'/proc/net/tcp and /proc/net/tcp6'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l parallel -d 'Whether a big TCP dump runs as two dumps side by side' -r -f -a "auto\t'from 20,000 TCP sockets in the namespace, on two CPUs or more'
never\t'one dump'
always\t'two dumps whenever both families, and more than listeners, are dumped'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l owner-source -d 'Where -p finds which process owns a socket' -r -f -a "auto\t'the BPF iterator, falling back to /proc when it cannot be used'
bpf\t'a BPF task-file iterator (needs root and kernel BTF)'
proc\t'one readlink per descriptor in /proc/*/fd'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s a -l all -d 'Show listening and non-listening sockets'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s l -l listening -d 'Show only listening sockets'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l all-netns -d 'Every network namespace on the host: the same as -N all'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s n -l numeric -d 'Show numeric addresses, ports and users (no name lookups)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l numeric-hosts -d 'Show numeric addresses (netstat\'s --numeric-hosts)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l numeric-ports -d 'Show numeric ports (netstat\'s --numeric-ports)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l numeric-users -d 'Show numeric user ids (netstat\'s --numeric-users)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -l json -d 'Print JSON instead of text'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s v -l verbose -d 'Say more on stderr: which source was used, messages skipped'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand why" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l listen -d 'Answer scrapes on ADDR (default 127.0.0.1:9923)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l textfile -d 'Write the metrics to PATH instead of serving them' -r -F
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l interval -d 'With --textfile: write every SECS seconds until SIGTERM or SIGINT' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l max-series -d 'Most series the per-port, per-program and per-endpoint metrics may add' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s N -l netns -d 'List the sockets of another network namespace, or of all (`all`)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s c -l continuous -d 'Repeat the listing every SECS seconds, like netstat -c (default 1)' -r
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l source -d 'Where to read sockets from' -r -f -a "auto\t'netlink, falling back to /proc when it cannot be used'
netlink\t'the kernel\'s sock_diag netlink interface'
proc\t'/proc/net/tcp and /proc/net/tcp6'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l parallel -d 'Whether a big TCP dump runs as two dumps side by side' -r -f -a "auto\t'from 20,000 TCP sockets in the namespace, on two CPUs or more'
never\t'one dump'
always\t'two dumps whenever both families, and more than listeners, are dumped'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l owner-source -d 'Where -p finds which process owns a socket' -r -f -a "auto\t'the BPF iterator, falling back to /proc when it cannot be used'
bpf\t'a BPF task-file iterator (needs root and kernel BTF)'
proc\t'one readlink per descriptor in /proc/*/fd'"
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s a -l all -d 'Show listening and non-listening sockets'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s l -l listening -d 'Show only listening sockets'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l all-netns -d 'Every network namespace on the host: the same as -N all'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s n -l numeric -d 'Show numeric addresses, ports and users (no name lookups)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l numeric-hosts -d 'Show numeric addresses (netstat\'s --numeric-hosts)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l numeric-ports -d 'Show numeric ports (netstat\'s --numeric-ports)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l numeric-users -d 'Show numeric user ids (netstat\'s --numeric-users)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -l json -d 'Print JSON instead of text'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s v -l verbose -d 'Say more on stderr: which source was used, messages skipped'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand help; and not __fish_seen_subcommand_from top why serve help" -f -a "top" -d 'A live, sortable, filterable view of the sockets, refreshed every SECS of -c (default 1)'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand help; and not __fish_seen_subcommand_from top why serve help" -f -a "why" -d 'Tell whether a server could bind() PORT now, and what holds it'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand help; and not __fish_seen_subcommand_from top why serve help" -f -a "serve" -d 'Serve connection-state metrics for Prometheus, or write them for node_exporter\'s textfile collector'
complete -c tcpstat -n "__fish_tcpstat_using_subcommand help; and not __fish_seen_subcommand_from top why serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tcpstat -s N -l netns -x -a "all (ip netns list 2>/dev/null | string replace -r ' .*' '')"
