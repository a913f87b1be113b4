//! OpenSSH client configuration (`~/.ssh/config`, `/etc/ssh/ssh_config`).
//! (To be implemented.)
