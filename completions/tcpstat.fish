complete -c tcpstat -s N -l netns -d 'List the sockets of another network namespace' -r
complete -c tcpstat -l port -d 'Only sockets with one of PORTS at either end' -r
complete -c tcpstat -l sport -d 'Only sockets whose local (source) port is in PORTS' -r
complete -c tcpstat -l dport -d 'Only sockets whose remote (destination) port is in PORTS' -r
complete -c tcpstat -l state -d 'Only sockets in these states (comma-separated)' -r
complete -c tcpstat -l src -d 'Only sockets whose local address is in ADDR[/PREFIX]' -r
complete -c tcpstat -l dst -d 'Only sockets whose remote address is in ADDR[/PREFIX]' -r
complete -c tcpstat -l pid -d 'Only sockets held open by process PID' -r
complete -c tcpstat -l program -d 'Only sockets held open by a process named NAME (its comm)' -r
complete -c tcpstat -l uid -d 'Only sockets owned by UID (a number or a user name)' -r
complete -c tcpstat -l source -d 'Where to read sockets from' -r -f -a "auto\t'netlink, falling back to /proc when it cannot be used'
netlink\t'the kernel\'s sock_diag netlink interface'
proc\t'/proc/net/tcp and /proc/net/tcp6'"
complete -c tcpstat -l proc-root -d 'Read fixture files below DIR instead of /proc (for tests)' -r -F
complete -c tcpstat -s t -l tcp -d 'Show TCP sockets (the default and only protocol; accepted for netstat habit)'
complete -c tcpstat -s a -l all -d 'Show listening and non-listening sockets'
complete -c tcpstat -s l -l listening -d 'Show only listening sockets'
complete -c tcpstat -s 4 -l inet -d 'Only IPv4 sockets'
complete -c tcpstat -s 6 -l inet6 -d 'Only IPv6 sockets'
complete -c tcpstat -s n -l numeric -d 'Show numeric addresses, ports and users (no name lookups)'
complete -c tcpstat -s p -l programs -d 'Show the PID and program name owning each socket'
complete -c tcpstat -s o -l timers -d 'Show the kernel\'s timer of each socket'
complete -c tcpstat -s e -l extend -d 'Show the owning user and the socket inode'
complete -c tcpstat -s W -l wide -d 'Never truncate addresses'
complete -c tcpstat -l json -d 'Print a JSON array, one object per socket'
complete -c tcpstat -s v -l verbose -d 'Say more on stderr: which source was used, messages skipped'
complete -c tcpstat -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tcpstat -s V -l version -d 'Print version'
