//! Names for numbers: host and service names for addresses and ports
//! (`hosts`, `services`), user names for uids (`users`). Each caches what
//! it looked up; none of them knows about sockets beyond their ends.

pub mod hosts;
pub mod services;
pub mod users;
