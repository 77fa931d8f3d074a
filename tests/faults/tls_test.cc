// Access control of the collector's gRPC listen, with the real collector and
// real certificates made by the openssl CLI in the test: TLS, mutual TLS,
// plaintext refused on a TLS port, non-loopback listen refused without TLS,
// and the Unix socket's mode and group. Needs root (the collector loads BPF).
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "resdb_trace/v1/service.grpc.pb.h"
#include "tests/e2e/e2e_util.h"

namespace {

using namespace resdb_trace::e2e;  // NOLINT: test helpers

std::string Dir() { return TmpDir() + "/tls"; }
std::string F(const std::string& name) { return Dir() + "/" + name; }

void Sh(const std::string& cmd) {
  const std::string full = "cd '" + Dir() + "' && " + cmd + " 2>>openssl.log";
  ASSERT_EQ(std::system(full.c_str()), 0) << cmd << "\n"
                                          << ReadFile(F("openssl.log"));
}

// A CA (and a second, unrelated one), a server certificate for localhost /
// 127.0.0.1 / ::1, a client certificate from the CA and one from the other.
void MakeCertificates() {
  ASSERT_EQ(std::system(("mkdir -p '" + Dir() + "'").c_str()), 0);
  for (const std::string ca : {"ca", "other_ca"}) {
    Sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + ca +
       " -keyout " + ca + ".key -out " + ca + ".pem");
  }
  std::FILE* ext = std::fopen(F("server.ext").c_str(), "w");
  ASSERT_NE(ext, nullptr);
  std::fputs(
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
      "extendedKeyUsage=serverAuth\n",
      ext);
  std::fclose(ext);
  ext = std::fopen(F("client.ext").c_str(), "w");
  ASSERT_NE(ext, nullptr);
  std::fputs("extendedKeyUsage=clientAuth\n", ext);
  std::fclose(ext);
  struct Leaf {
    std::string name, ca, ext;
  };
  for (const Leaf& l :
       {Leaf{"server", "ca", "server.ext"}, Leaf{"client", "ca", "client.ext"},
        Leaf{"rogue_client", "other_ca", "client.ext"}}) {
    Sh("openssl req -newkey rsa:2048 -nodes -subj /CN=" + l.name + " -keyout " +
       l.name + ".key -out " + l.name + ".csr");
    Sh("openssl x509 -req -in " + l.name + ".csr -CA " + l.ca + ".pem -CAkey " +
       l.ca + ".key -CAcreateserial -days 2 -extfile " + l.ext + " -out " +
       l.name + ".pem");
  }
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

struct ClientFiles {
  std::string ca, cert, key;
};

std::shared_ptr<grpc::ChannelCredentials> Tls(const ClientFiles& f) {
  grpc::SslCredentialsOptions o;
  if (!f.ca.empty()) o.pem_root_certs = ReadFile(F(f.ca));
  if (!f.cert.empty()) {
    o.pem_cert_chain = ReadFile(F(f.cert));
    o.pem_private_key = ReadFile(F(f.key));
  }
  return grpc::SslCredentials(o);
}

// GetStats over a fresh channel.
grpc::Status Call(const std::string& target,
                  std::shared_ptr<grpc::ChannelCredentials> creds) {
  auto stub =
      v1::TraceService::NewStub(grpc::CreateChannel(target, std::move(creds)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::Stats stats;
  return stub->GetStats(&ctx, v1::GetStatsRequest(), &stats);
}

std::string Binary() { return Runfile("tests/testdata/hook_target"); }
std::string Cli() { return Runfile("clients/cli/resdb-trace"); }

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { MakeCertificates(); }
};

TEST_F(TlsTest, TlsServesClientsThatTrustItsCaOnly) {
  const int port = FreePort();
  const std::string target = "localhost:" + std::to_string(port);
  CollectorProcess c({"--binary", Binary(), "--listen",
                      "127.0.0.1:" + std::to_string(port), "--tls-cert",
                      F("server.pem"), "--tls-key", F("server.key")});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;

  grpc::Status ok = Call(target, Tls({"ca.pem", "", ""}));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  // 127.0.0.1 is in the certificate too.
  ok = Call("127.0.0.1:" + std::to_string(port), Tls({"ca.pem", "", ""}));
  EXPECT_TRUE(ok.ok()) << ok.error_message();

  grpc::Status wrong_ca = Call(target, Tls({"other_ca.pem", "", ""}));
  EXPECT_EQ(wrong_ca.error_code(), grpc::StatusCode::UNAVAILABLE)
      << wrong_ca.error_message();
  grpc::Status plaintext = Call(target, grpc::InsecureChannelCredentials());
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE)
      << plaintext.error_message();

  // The CLI with --tls-ca, and without it (plaintext: refused).
  RunResult r =
      RunCommand({Cli(), "stats", "--listen", target, "--tls-ca", F("ca.pem")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("hooks attached"), std::string::npos) << r.out;
  r = RunCommand({Cli(), "stats", "--listen", target});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  r = RunCommand(
      {Cli(), "stats", "--listen", target, "--tls-ca", F("other_ca.pem")});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(c.Stop(), 0);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  const int port = FreePort();
  const std::string target = "localhost:" + std::to_string(port);
  CollectorProcess c({"--binary", Binary(), "--listen",
                      "127.0.0.1:" + std::to_string(port), "--tls-cert",
                      F("server.pem"), "--tls-key", F("server.key"),
                      "--tls-client-ca", F("ca.pem")});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;

  grpc::Status with_cert =
      Call(target, Tls({"ca.pem", "client.pem", "client.key"}));
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
  grpc::Status no_cert = Call(target, Tls({"ca.pem", "", ""}));
  EXPECT_FALSE(no_cert.ok());
  EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE)
      << no_cert.error_message();
  grpc::Status rogue =
      Call(target, Tls({"ca.pem", "rogue_client.pem", "rogue_client.key"}));
  EXPECT_EQ(rogue.error_code(), grpc::StatusCode::UNAVAILABLE)
      << rogue.error_message();
  grpc::Status plaintext = Call(target, grpc::InsecureChannelCredentials());
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE);

  RunResult r =
      RunCommand({Cli(), "stats", "--listen", target, "--tls-ca", F("ca.pem"),
                  "--tls-cert", F("client.pem"), "--tls-key", F("client.key")});
  EXPECT_EQ(r.code, 0) << r.err;
  r = RunCommand({Cli(), "stats", "--listen", target, "--tls-ca", F("ca.pem")});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  // watch streams over mTLS too.
  r = RunCommand({Cli(), "watch", "--seconds", "0.5", "--listen", target,
                  "--tls-ca", F("ca.pem"), "--tls-cert", F("client.pem"),
                  "--tls-key", F("client.key")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(c.Stop(), 0);
}

// Runs the collector with `args` expecting it to refuse to start.
std::string Refused(std::vector<std::string> args) {
  std::vector<std::string> full = {Runfile("collector/resdb-trace-collector"),
                                   "--binary", Binary()};
  full.insert(full.end(), args.begin(), args.end());
  RunResult r = RunCommand(full, 30);
  EXPECT_EQ(r.code, 2) << r.err;
  return r.err;
}

TEST_F(TlsTest, NonLoopbackListenNeedsTlsOrInsecureListen) {
  const std::string any = "0.0.0.0:" + std::to_string(FreePort());
  std::string err = Refused({"--listen", any});
  EXPECT_NE(err.find("is not a loopback address"), std::string::npos) << err;
  EXPECT_NE(err.find("--tls-cert"), std::string::npos) << err;
  EXPECT_NE(err.find("--insecure-listen"), std::string::npos) << err;

  // With TLS the same address serves (checked over loopback).
  const int port = FreePort();
  CollectorProcess c({"--binary", Binary(), "--listen",
                      "0.0.0.0:" + std::to_string(port), "--tls-cert",
                      F("server.pem"), "--tls-key", F("server.key")});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  grpc::Status ok =
      Call("localhost:" + std::to_string(port), Tls({"ca.pem", "", ""}));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(c.Stop(), 0);
}

TEST_F(TlsTest, BadTlsFlagsAreClearErrors) {
  const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
  std::string err =
      Refused({"--listen", listen, "--tls-cert", F("server.pem")});
  EXPECT_NE(err.find("needs both --tls-cert FILE and --tls-key FILE"),
            std::string::npos)
      << err;
  err = Refused({"--listen", listen, "--tls-cert", F("nonexistent.pem"),
                 "--tls-key", F("server.key")});
  EXPECT_NE(err.find("--tls-cert " + F("nonexistent.pem") + ": cannot read"),
            std::string::npos)
      << err;
  err = Refused({"--listen", listen, "--tls-cert", F("server.ext"), "--tls-key",
                 F("server.key")});
  EXPECT_NE(err.find("not a PEM file"), std::string::npos) << err;
  // A certificate with someone else's key.
  err = Refused({"--listen", listen, "--tls-cert", F("server.pem"), "--tls-key",
                 F("client.key")});
  EXPECT_NE(err.find("not a valid certificate and its matching key"),
            std::string::npos)
      << err;
  // The client side names its flag too.
  RunResult r = RunCommand(
      {Cli(), "stats", "--listen", listen, "--tls-ca", F("nonexistent.pem")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--tls-ca"), std::string::npos) << r.err;
}

TEST(SocketTest, UnixSocketIs0660WithTheConfiguredGroup) {
  const std::string dir =
      "/tmp/resdb-trace-sockgroup-" + std::to_string(getpid()) + "/run";
  const std::string sock = dir + "/collector.sock";
  std::system(("rm -rf '" + dir + "'").c_str());
  CollectorProcess c({"--binary", Binary(), "--listen", "unix://" + sock,
                      "--socket-group", "daemon"});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  const group* daemon = getgrnam("daemon");
  ASSERT_NE(daemon, nullptr);
  struct stat st;
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, daemon->gr_gid);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_gid, daemon->gr_gid);
  grpc::Status ok = Call("unix://" + sock, grpc::InsecureChannelCredentials());
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(c.Stop(), 0);
  EXPECT_NE(access(sock.c_str(), F_OK), 0) << "socket left behind";

  std::string err = Refused(
      {"--listen", "unix://" + sock, "--socket-group", "no-such-group-resdb"});
  EXPECT_NE(err.find("--socket-group no-such-group-resdb: no such group"),
            std::string::npos)
      << err;
  std::system(
      ("rm -rf '/tmp/resdb-trace-sockgroup-" + std::to_string(getpid()) + "'")
          .c_str());
}

TEST(SocketTest, DefaultSocketIs0660) {
  const std::string sock =
      "/tmp/resdb-trace-mode-" + std::to_string(getpid()) + ".sock";
  CollectorProcess c({"--binary", Binary(), "--listen", "unix://" + sock});
  std::string why;
  ASSERT_TRUE(c.WaitReady(&why)) << why;
  struct stat st;
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, getegid());
  EXPECT_EQ(c.Stop(), 0);
}

}  // namespace
