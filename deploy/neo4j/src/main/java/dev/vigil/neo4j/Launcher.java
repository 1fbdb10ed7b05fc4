package dev.vigil.neo4j;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Starts a Neo4j DBMS in this JVM with Bolt on 127.0.0.1:PORT and authentication off, prints one line
 * "VIGIL_NEO4J_READY bolt://127.0.0.1:PORT" when it accepts connections, and shuts down cleanly on SIGTERM/SIGINT,
 * or when stdin closes if --stop-on-eof is given (test harnesses use it so a dead parent leaves no server behind).
 * Arguments: PORT [HOME_DIR] [--stop-on-eof]. Port 0 picks a free port. Without HOME_DIR a temporary directory is
 * used and deleted on exit. For tests and development only.
 */
public final class Launcher {
  private Launcher() {}

  public static void main(String[] argv) throws Exception {
    final boolean stopOnEof = java.util.Arrays.asList(argv).contains("--stop-on-eof");
    final String[] args = java.util.Arrays.stream(argv).filter(a -> !a.equals("--stop-on-eof")).toArray(String[]::new);
    if (args.length < 1 || args.length > 2) {
      System.err.println("usage: Launcher PORT [HOME_DIR] [--stop-on-eof]   (PORT 0 = pick a free loopback port)");
      System.exit(2);
    }
    int port;
    try {
      port = Integer.parseInt(args[0]);
    } catch (NumberFormatException e) {
      System.err.println("PORT must be an integer, got: " + args[0]);
      System.exit(2);
      return;
    }
    if (port == 0) port = freePort();
    final boolean temporary = args.length < 2;
    final Path home = temporary ? Files.createTempDirectory("vigil-neo4j-") : Path.of(args[1]);
    Files.createDirectories(home);

    long t0 = System.nanoTime();
    DatabaseManagementService dbms =
        new DatabaseManagementServiceBuilder(home)
            .setConfig(BoltConnector.enabled, true)
            .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
            .setConfig(HttpConnector.enabled, false)
            .setConfig(GraphDatabaseSettings.auth_enabled, false)
            // A test database of a few thousand nodes: a small page cache instead of a share of the machine's RAM.
            .setConfig(GraphDatabaseSettings.pagecache_memory, 64L * 1024 * 1024)
            .build();
    // Touch the default database so "ready" means queries will be served.
    dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
    long ms = (System.nanoTime() - t0) / 1_000_000;

    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  dbms.shutdown();
                  if (temporary) deleteTree(home);
                  stop.countDown();
                }));
    System.out.println("VIGIL_NEO4J_READY bolt://127.0.0.1:" + port + " started_ms=" + ms);
    System.out.flush();

    if (!stopOnEof) {
      stop.await(); // until SIGTERM/SIGINT runs the shutdown hook
      return;
    }
    // Stop when the parent closes our stdin (or dies).
    InputStream in = System.in;
    byte[] buf = new byte[256];
    try {
      while (in.read(buf) >= 0) {
        // ignore input; only EOF matters
      }
    } catch (IOException ignored) {
      // treat as EOF
    }
    System.exit(0); // runs the shutdown hook
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> walk = Files.walk(root)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort: a temp dir left behind is harmless
    }
  }
}
