//! End-to-end tests: the content engine on real sled data dirs, and the real `verbund` binary
//! as a server and an importer.

mod api;
mod cli;
mod cluster;
mod cluster_crash;
mod content;
mod crash;
mod delivery;
mod editor_cli;
mod editor_day;
mod editor_tour;
mod mail;
mod media;
mod migrate;
mod newsletter;
mod ops;
mod plugins;
mod review;
mod schemas;
mod search;
mod security;
mod security_edge;
mod security_http;
mod security_newsletter;
mod security_plugins;
mod shapes;
mod soak;
mod translations;
mod webhooks;
mod website;
