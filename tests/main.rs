//! Integration tests: every tool, built by cargo, against a real SoftHSM2
//! token made for each test in its own temporary directory.

mod attacks;
mod audit;
mod corpus;
mod crash;
mod differential;
mod dns_lab;
mod dnskey_from_label;
mod ds_from_key;
mod faults;
mod guide;
mod health_check;
mod hostile;
mod hsm;
mod key_manager;
mod key_manager_year;
mod key_revoke;
mod key_settime;
mod key_trust;
mod man;
mod named_e2e;
mod offline_ksk;
mod output_safety;
mod parent_ds;
mod pins;
mod pkcs11_backup;
mod pkcs11_destroy;
mod pkcs11_keygen;
mod pkcs11_list;
mod pkcs11_tokens;
mod progress;
mod rollover;
mod secrets;
mod zone_sign;
mod zone_verify;
