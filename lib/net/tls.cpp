#include "lib/net/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl/verify_mode.hpp>

namespace krt::net {
namespace ssl = boost::asio::ssl;
namespace {

using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;

std::string openssl_error(std::string_view what) {
  std::string out(what);
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

pkey_ptr read_key(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
}

x509_ptr read_cert(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return x509_ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

krt::result<key_pair_pem, std::string> make_cert(const certificate_request& req, bool is_ca,
                                                 const key_pair_pem* signer) {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  if (!key) return unexpected(openssl_error("generating an EC key"));
  x509_ptr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return unexpected(openssl_error("random serial"));
  serial[0] &= 0x7F;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  // Backdate an hour so clocks that are slightly apart still agree.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(req.valid_for.count()) * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& org : req.organizations)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(req.common_name.c_str()), -1, -1, 0);

  x509_ptr issuer_cert(nullptr, X509_free);
  pkey_ptr issuer_key(nullptr, EVP_PKEY_free);
  if (signer != nullptr) {
    issuer_cert = read_cert(signer->cert_pem);
    issuer_key = read_key(signer->key_pem);
    if (!issuer_cert || !issuer_key) return unexpected(openssl_error("reading the CA certificate or key"));
    X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get()));
  } else {
    X509_set_issuer_name(cert.get(), name);
  }
  X509* issuer = issuer_cert ? issuer_cert.get() : cert.get();

  bool ok = true;
  if (is_ca) {
    ok &= add_ext(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
    ok &= add_ext(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else {
    ok &= add_ext(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
    ok &= add_ext(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    std::string eku;
    if (req.server_auth) eku = "serverAuth";
    if (req.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
    if (!eku.empty()) ok &= add_ext(cert.get(), issuer, NID_ext_key_usage, eku);
  }
  ok &= add_ext(cert.get(), issuer, NID_subject_key_identifier, "hash");
  if (signer != nullptr) ok &= add_ext(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const auto& d : req.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : req.ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) ok &= add_ext(cert.get(), issuer, NID_subject_alt_name, san);
  if (!ok) return unexpected(openssl_error("adding certificate extensions"));

  EVP_PKEY* sign_key = issuer_key ? issuer_key.get() : key.get();
  if (X509_sign(cert.get(), sign_key, EVP_sha256()) == 0) return unexpected(openssl_error("signing the certificate"));

  bio_ptr cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  bio_ptr key_bio(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return unexpected(openssl_error("encoding PEM"));
  return key_pair_pem{bio_to_string(cert_bio.get()), bio_to_string(key_bio.get())};
}

}  // namespace

krt::result<key_pair_pem, std::string> generate_ca(const std::string& common_name, std::chrono::hours valid_for) {
  certificate_request req;
  req.common_name = common_name;
  req.valid_for = valid_for;
  return make_cert(req, true, nullptr);
}

krt::result<key_pair_pem, std::string> issue_certificate(const key_pair_pem& ca, const certificate_request& req) {
  return make_cert(req, false, &ca);
}

krt::result<ssl_context_ptr, std::string> make_client_context(const client_tls_options& opts) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (opts.insecure_skip_verify) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!opts.ca_pem.empty()) {
      ctx->add_certificate_authority(boost::asio::buffer(opts.ca_pem), ec);
      if (ec) return unexpected("certificate authority data is not a valid PEM certificate: " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) return unexpected("cannot load the system certificate store: " + ec.message());
    }
  }
  if (!opts.client_cert_pem.empty() || !opts.client_key_pem.empty()) {
    if (opts.client_cert_pem.empty() || opts.client_key_pem.empty())
      return unexpected(std::string("a client certificate needs both the certificate and its key"));
    ctx->use_certificate_chain(boost::asio::buffer(opts.client_cert_pem), ec);
    if (ec) return unexpected("client certificate is not valid PEM: " + ec.message());
    ctx->use_private_key(boost::asio::buffer(opts.client_key_pem), ssl::context::pem, ec);
    if (ec) {
      // OpenSSL checks the key against the certificate while loading it.
      bool mismatch = ec.message().find("mismatch") != std::string::npos;
      return unexpected(mismatch ? "client key does not match the client certificate"
                                 : "client key is not valid PEM: " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
      return unexpected(openssl_error("client key does not match the client certificate"));
  }
  return ctx;
}

krt::result<ssl_context_ptr, std::string> make_server_context(const server_tls_options& opts) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  ctx->use_certificate_chain(boost::asio::buffer(opts.cert_pem), ec);
  if (ec) return unexpected("serving certificate is not valid PEM: " + ec.message());
  ctx->use_private_key(boost::asio::buffer(opts.key_pem), ssl::context::pem, ec);
  if (ec) return unexpected("serving key is not valid PEM: " + ec.message());
  if (!opts.client_ca_pem.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(opts.client_ca_pem), ec);
    if (ec) return unexpected("client CA is not valid PEM: " + ec.message());
    // Request a client certificate but let bearer-token clients in without one.
    ctx->set_verify_mode(ssl::verify_peer);
  }
  return ctx;
}

}  // namespace krt::net
