//! From the resolved config to what the data layer takes: a
//! [`source::Request`] and a [`collect::Plan`]. It sits between `config`
//! and the faces (the one-shot listing in `app`, `watch`) so that neither
//! `source` nor `collect` reads the config, and every face asks for data
//! the same way.

use crate::collect;
use crate::config::{Config, Format, Mode};
use crate::model::StateSet;
use crate::source;

/// The source request for `cfg`, asking for `states`: the config's own,
/// or more when a face needs to see sockets leave its states (`--events`).
pub fn request(cfg: &Config, states: StateSet) -> source::Request<'_> {
    source::Request {
        protocols: cfg.protocols.inet(),
        ipv4: cfg.ipv4,
        ipv6: cfg.ipv6,
        states,
        datagram_states: cfg.datagram_states,
        timer_counters: needs_timer_counters(cfg),
        info: cfg.needs_info(),
        memory: cfg.columns.memory,
        filter: &cfg.filter,
        choice: cfg.source,
        parallel: cfg.parallel,
        proc_root: &cfg.proc_root,
        verbose: cfg.verbose > 0,
    }
}

/// The collector plan for `cfg`, dumping `states`.
pub fn collect(cfg: &Config, states: StateSet) -> collect::Plan<'_> {
    collect::Plan {
        request: request(cfg, states),
        owners: needs_owners(cfg).then_some(cfg.owner_source),
        repeated: cfg.watch.is_some() || cfg.mode == Mode::Serve,
        namespaces: &[],
    }
}

/// True when owners must be looked up: shown (`-p`, in a listing or `-K`),
/// filtered on (`--pid`, `--program`), or named by a diagnosis (`-s`,
/// `why`) or a metric (`serve`).
fn needs_owners(cfg: &Config) -> bool {
    // serve's metrics name the programs holding teardown states.
    let diagnosis = matches!(cfg.mode, Mode::Summary | Mode::Why { .. } | Mode::Serve);
    cfg.columns.program || cfg.filter.needs_owners() || diagnosis
}

/// True when exact timer counters are needed (shown in `-o` or JSON).
fn needs_timer_counters(cfg: &Config) -> bool {
    cfg.columns.timer || cfg.format == Format::Json
}
