//! Datastore (DS) drivers: image repositories, run on the front-end by oned's
//! `one_datastore` with the action dump on stdin.

pub mod fs;
