//! What sshd knows about its own keywords, as the native parser needs it: which keywords exist
//! (OpenSSH 9.2, Debian patches included), which ones accumulate instead of "first value wins",
//! which are allowed inside a Match block, and the OpenSSH 9.2 defaults of the keys the checks
//! read. Source: `servconf.c` (`keywords[]`, `fill_default_server_options`) and sshd_config(5).
//! Not here: reading files (`config.rs`).

/// Keywords that sshd 9.2 accepts, lower-case. Deprecated and unsupported ones are included: sshd
/// accepts them with a log line, so they are not "unknown".
#[rustfmt::skip]
const KNOWN: &[&str] = &[
    "acceptenv", "addressfamily", "allowagentforwarding", "allowgroups",
    "allowstreamlocalforwarding", "allowtcpforwarding", "allowusers", "authenticationmethods",
    "authorizedkeyscommand", "authorizedkeyscommanduser", "authorizedkeysfile",
    "authorizedprincipalscommand", "authorizedprincipalscommanduser", "authorizedprincipalsfile",
    "banner", "casignaturealgorithms", "challengeresponseauthentication", "channeltimeout",
    "chrootdirectory", "ciphers", "clientalivecountmax", "clientaliveinterval", "compression",
    "debianbanner", "denygroups", "denyusers", "disableforwarding", "exposeauthinfo",
    "fingerprinthash", "forcecommand", "gatewayports", "gssapiauthentication",
    "gssapicleanupcredentials", "gssapikexalgorithms", "gssapikeyexchange",
    "gssapistorecredentialsonrekey", "gssapistrictacceptorcheck", "hostbasedacceptedalgorithms",
    "hostbasedacceptedkeytypes", "hostbasedauthentication", "hostbasedusesnamefrompacketonly",
    "hostcertificate", "hostdsakey", "hostkey", "hostkeyagent", "hostkeyalgorithms",
    "ignorerhosts", "ignoreuserknownhosts", "include", "ipqos", "kbdinteractiveauthentication",
    "kerberosauthentication", "kerberosgetafstoken", "kerberosorlocalpasswd",
    "kerberosticketcleanup", "kexalgorithms", "listenaddress", "logingracetime", "loglevel",
    "logverbose", "macs", "match", "maxauthtries", "maxsessions", "maxstartups", "modulifile",
    "passwordauthentication", "permitemptypasswords", "permitlisten", "permitopen",
    "permitrootlogin", "permittty", "permittunnel", "permituserenvironment", "permituserrc",
    "persourcemaxstartups", "persourcenetblocksize", "pidfile", "port", "printlastlog",
    "printmotd", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes", "pubkeyauthentication",
    "pubkeyauthoptions", "rdomain", "rekeylimit", "requiredrsasize", "revokedkeys",
    "securitykeyprovider", "setenv", "streamlocalbindmask", "streamlocalbindunlink",
    "strictmodes", "subsystem", "syslogfacility", "tcpkeepalive", "trustedusercakeys",
    "unusedconnectiontimeout", "usedns", "usepam", "versionaddendum", "x11displayoffset",
    "x11forwarding", "x11uselocalhost", "xauthlocation",
    // Deprecated or unsupported: accepted, ignored.
    "afstokenpassing", "dsaauthentication", "gssapienablek5users", "keyregenerationinterval",
    "kerberostgtpassing", "pamauthenticationviakbdint", "protocol", "reversemappingcheck",
    "rhostsauthentication", "rhostsrsaauthentication", "rsaauthentication", "serverkeybits",
    "showpatchlevel", "skeyauthentication", "uselogin", "useprivilegeseparation",
    "verifyreversemapping", "x11uselocalhost",
];

/// Keywords sshd accepts and ignores: their lines set nothing.
#[rustfmt::skip]
const IGNORED: &[&str] = &[
    "afstokenpassing", "dsaauthentication", "gssapienablek5users", "keyregenerationinterval",
    "kerberostgtpassing", "pamauthenticationviakbdint", "protocol", "reversemappingcheck",
    "rhostsauthentication", "rhostsrsaauthentication", "rsaauthentication", "serverkeybits",
    "showpatchlevel", "skeyauthentication", "uselogin", "useprivilegeseparation",
    "verifyreversemapping",
];

/// Keywords allowed after `Match` (sshd_config(5), "Match"); sshd refuses the others there.
#[rustfmt::skip]
const MATCH_ALLOWED: &[&str] = &[
    "acceptenv", "allowagentforwarding", "allowgroups", "allowstreamlocalforwarding",
    "allowtcpforwarding", "allowusers", "authenticationmethods", "authorizedkeyscommand",
    "authorizedkeyscommanduser", "authorizedkeysfile", "authorizedprincipalscommand",
    "authorizedprincipalscommanduser", "authorizedprincipalsfile", "banner",
    "casignaturealgorithms", "challengeresponseauthentication", "channeltimeout",
    "chrootdirectory", "clientalivecountmax", "clientaliveinterval", "denygroups", "denyusers",
    "disableforwarding", "exposeauthinfo", "forcecommand", "gatewayports",
    "gssapiauthentication", "hostbasedacceptedalgorithms", "hostbasedauthentication",
    "hostbasedusesnamefrompacketonly", "ignorerhosts", "include", "ipqos",
    "kbdinteractiveauthentication", "kerberosauthentication", "loglevel", "logverbose",
    "match", "maxauthtries", "maxsessions", "passwordauthentication", "permitemptypasswords",
    "permitlisten", "permitopen", "permitrootlogin", "permittty", "permittunnel", "permituserrc",
    "pubkeyacceptedalgorithms", "pubkeyauthentication", "pubkeyauthoptions", "rdomain",
    "rekeylimit", "revokedkeys", "setenv", "streamlocalbindmask", "streamlocalbindunlink",
    "trustedusercakeys", "unusedconnectiontimeout", "x11displayoffset", "x11forwarding",
    "x11uselocalhost",
];

/// Keywords whose values accumulate over lines instead of "first value wins". In `servconf.c`
/// these append with `opt_array_append` whenever the line is active (AllowUsers, DenyUsers,
/// AllowGroups, DenyGroups share `parse_allowdenyusers`; AcceptEnv carries the comment "appends to
/// list; doesn't respect first-match-wins"; HostKey, HostCertificate, ListenAddress and Port
/// append too). Subsystem accumulates by name (`Subsystem 'x' already defined` keeps the first).
#[rustfmt::skip]
const ACCUMULATING: &[&str] = &[
    "acceptenv", "allowgroups", "allowusers", "denygroups", "denyusers", "hostcertificate",
    "hostkey", "listenaddress", "port", "subsystem",
];

/// OpenSSH 9.2's defaults of the keys the checks read (`fill_default_server_options` and
/// `myproposal.h`), as `sshd -T` prints them on Debian 12.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("allowtcpforwarding", "yes"),
    ("authenticationmethods", "any"),
    ("ciphers", DEFAULT_CIPHERS),
    ("disableforwarding", "no"),
    ("kbdinteractiveauthentication", "yes"),
    ("kexalgorithms", DEFAULT_KEX),
    ("logingracetime", "120"),
    ("macs", DEFAULT_MACS),
    ("maxauthtries", "6"),
    ("passwordauthentication", "yes"),
    ("permitemptypasswords", "no"),
    ("permitrootlogin", "prohibit-password"),
    ("permituserenvironment", "no"),
    ("pubkeyauthentication", "yes"),
    ("usepam", "no"),
    ("x11forwarding", "no"),
];

pub const DEFAULT_CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,\
aes128-gcm@openssh.com,aes256-gcm@openssh.com";
pub const DEFAULT_MACS: &str = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,\
hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,\
umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
pub const DEFAULT_KEX: &str = "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,\
curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,\
ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,\
diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";

/// Host keys sshd loads when no HostKey is set (`_PATH_HOST_*_KEY_FILE`).
pub const DEFAULT_HOST_KEYS: &[&str] = &[
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
];

/// The canonical name of a keyword: lower-case, with sshd's aliases folded
/// (ChallengeResponseAuthentication is KbdInteractiveAuthentication since OpenSSH 8.7, and the
/// `*KeyTypes` spellings are the old names of `*Algorithms`).
pub fn canonical(lower: &str) -> &str {
    match lower {
        "challengeresponseauthentication" => "kbdinteractiveauthentication",
        "pubkeyacceptedkeytypes" => "pubkeyacceptedalgorithms",
        "hostbasedacceptedkeytypes" => "hostbasedacceptedalgorithms",
        "hostdsakey" => "hostkey",
        other => other,
    }
}

pub fn is_known(lower: &str) -> bool {
    KNOWN.contains(&lower)
}

pub fn is_ignored(lower: &str) -> bool {
    IGNORED.contains(&lower)
}

pub fn allowed_in_match(lower: &str) -> bool {
    MATCH_ALLOWED.contains(&lower)
}

pub fn accumulates(canonical: &str) -> bool {
    ACCUMULATING.contains(&canonical)
}
