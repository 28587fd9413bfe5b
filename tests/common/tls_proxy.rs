//! HTTPS in front of the local Swift, which itself speaks plain HTTP: a test CA and
//! server certificates made at test time (rcgen), and a TLS-terminating proxy
//! (tokio-rustls + axum) that forwards every request to Swift.
//!
//! Tempauth builds the storage URL it hands out from the request's Host header with
//! the scheme `http`; the proxy rewrites that `X-Storage-Url` to `https`, so a client
//! that logs in through the proxy also sends its storage requests through it, over
//! TLS. The proxy counts failed handshakes and forwarded requests, so a test can tell
//! that a refused certificate stopped the client before anything was sent.

#![allow(dead_code)]

use super::fault_proxy::{response_head, send_upstream};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// A certificate authority made for one test, as a private cloud would have.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("swiftmount test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM-encoded: what a user gives `--os-cacert`.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA certificate to `dir/file` and returns the path.
    pub fn write_pem(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A server certificate for `names` (host names or IP addresses), signed by
    /// this CA, valid from 1975 to 4096 (rcgen's defaults).
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        self.sign(server_params(names))
    }

    /// A server certificate for `names` that expired in 2001.
    pub fn expired_server_cert(&self, names: &[&str]) -> ServerCert {
        let mut params = server_params(names);
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            chain: vec![cert.der().clone()],
            pem: cert.pem(),
            key: key.into(),
        }
    }
}

fn server_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// A server's certificate chain and private key.
pub struct ServerCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The leaf certificate, PEM-encoded.
    pub pem: String,
}

impl ServerCert {
    /// A self-signed certificate for `names`, as a test cluster would have.
    pub fn self_signed(names: &[&str]) -> ServerCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).unwrap();
        ServerCert {
            chain: vec![cert.der().clone()],
            pem: cert.pem(),
            key: signing_key.into(),
        }
    }
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    /// HTTP requests that came through a completed handshake.
    requests: AtomicUsize,
    /// TLS handshakes that failed (the client refused the certificate, or gave up).
    failed_handshakes: AtomicUsize,
}

/// An HTTPS proxy on 127.0.0.1 in front of `upstream`; stopped when dropped.
pub struct TlsProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
    server: JoinHandle<()>,
}

impl TlsProxy {
    /// Serves `cert` on a free port of 127.0.0.1 and forwards to `upstream`
    /// (scheme://host:port of the plain-HTTP Swift proxy).
    pub async fn start(upstream: &str, cert: ServerCert) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap();
        // HTTP/1.1 only, as a TLS terminator in front of Swift usually offers
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tls = TlsAcceptor::from(Arc::new(config));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            requests: AtomicUsize::new(0),
            failed_handshakes: AtomicUsize::new(0),
        });
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(64);
        // Handshakes run in tasks of their own, so one client that stalls or is
        // refused does not hold up the others.
        let counters = shared.clone();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    continue;
                };
                let (tls, tx, counters) = (tls.clone(), tx.clone(), counters.clone());
                tokio::spawn(async move {
                    match tls.accept(stream).await {
                        Ok(stream) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Err(_) => {
                            counters.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(HandshakenListener { rx, addr }, app)
                .await
                .unwrap();
        });
        TlsProxy {
            addr,
            shared,
            acceptor,
            server,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Tempauth's login URL through the proxy (what [`super::mount::tempauth_env_via`]
    /// logs in at, given [`Self::base_url`]).
    pub fn tempauth_url(&self) -> String {
        let auth = url::Url::parse(&super::lab::tempauth_url()).unwrap();
        format!("{}{}", self.base_url(), auth.path())
    }

    /// HTTP requests forwarded so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed so far.
    pub fn failed_handshakes(&self) -> usize {
        self.shared.failed_handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.server.abort();
    }
}

/// Connections whose TLS handshake has completed, for axum to serve.
struct HandshakenListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for HandshakenListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // the acceptor is gone (the proxy is being dropped): nothing more comes
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

async fn forward(State(s): State<Arc<Shared>>, req: Request) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let upstream = match send_upstream(&s.http, &s.upstream, req).await {
        Ok(resp) => resp,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(format!("tls proxy: {e}")))
                .unwrap();
        }
    };
    let mut resp = response_head(&upstream);
    // tempauth says http: the client must come back through this proxy, over TLS
    if let Some(headers) = resp.headers_mut()
        && let Some(https) = headers
            .get("x-storage-url")
            .and_then(|v| v.to_str().ok())
            .and_then(|u| u.strip_prefix("http://"))
            .and_then(|rest| HeaderValue::from_str(&format!("https://{rest}")).ok())
    {
        headers.insert("x-storage-url", https);
    }
    resp.body(Body::from_stream(upstream.bytes_stream()))
        .unwrap()
}
