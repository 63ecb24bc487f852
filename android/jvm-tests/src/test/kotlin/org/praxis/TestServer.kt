package org.praxis

import java.io.File
import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.util.UUID

/** A real praxis-server on a free loopback port, with its own SQLite directory. */
class TestServer(extraArgs: List<String> = emptyList()) : AutoCloseable {
    private val dataDir: File = Files.createTempDirectory("praxis-server").toFile()
    val port: Int = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    private val process: Process

    init {
        val bin = System.getProperty("praxis.server.bin") ?: error("praxis.server.bin is not set")
        // One loopback client registers every test account.
        process = ProcessBuilder(
            bin, "--dev", "--bind", "127.0.0.1:$port", "--data-dir", dataDir.absolutePath,
            "--registrations-per-hour", "100000",
            // The notice an operator configures (the repository's example, version 1).
            "--privacy-notice", File("../../docs/privacy-notice.example.toml").absolutePath,
            *extraArgs.toTypedArray(),
        )
            .redirectErrorStream(true)
            .redirectOutput(File(dataDir, "server.log"))
            .start()
        val http = HttpClient.newHttpClient()
        val deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos()
        while (true) {
            val up = runCatching {
                http.send(HttpRequest.newBuilder(URI("$url/readyz")).build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode() == 200
            }.getOrDefault(false)
            if (up) break
            check(process.isAlive) { "praxis-server exited: " + File(dataDir, "server.log").readText() }
            check(System.nanoTime() < deadline) { "praxis-server did not become ready" }
            Thread.sleep(50)
        }
    }

    /**
     * The code mailed to [email] in the one message containing [marker]
     * (`--dev` writes mail to `<data-dir>/mail/`); waits up to 10 s for it.
     */
    fun mailedCode(email: String, marker: String): String {
        val deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos()
        val code = Regex("\\b[0-9A-Z]{4}-[0-9A-Z]{4}\\b")
        while (true) {
            val found = File(dataDir, "mail").listFiles().orEmpty()
                .filter { it.name.endsWith(".eml") }
                .map { it.readText() }
                .filter { text -> email in text && marker in text }
            check(found.size <= 1) { "more than one such message" }
            if (found.isNotEmpty()) return code.findAll(found.single()).last().value
            check(System.nanoTime() < deadline) { "no mail to the address" }
            Thread.sleep(20)
        }
    }

    override fun close() {
        process.destroy()
        process.waitFor()
        dataDir.deleteRecursively()
    }
}

/** A key provider implemented in Kotlin, as apps do over the platform keystore. */
class MemoryKeyProvider(private val key: ByteArray = ByteArray(32) { (it * 7 + 1).toByte() }) : KeyProvider {
    var forgotten = false
    var calls = 0

    override fun key(): ByteArray {
        calls++
        return key.copyOf()
    }

    override fun forget() {
        forgotten = true
    }
}

data class Person(val email: String, val password: String, val fullName: String)

fun newPerson(tag: String): Person {
    val n = UUID.randomUUID().toString().replace("-", "")
    return Person("$tag.${n.take(10)}@clinic-example.org", "violet-tram-oboe-${n.take(8)}", "Nurse $tag ${n.take(5)}")
}

suspend fun Praxis.registerPerson(p: Person): String =
    register(p.email, p.password, p.fullName, "+33612345678", "FR", "fr-FR", "nurse", "1985-04-12")

fun tempDir(): File = Files.createTempDirectory("praxis-client").toFile()
