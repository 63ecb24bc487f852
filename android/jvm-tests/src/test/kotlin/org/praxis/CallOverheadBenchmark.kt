package org.praxis

import java.io.File
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * Measures (does not assert) the Kotlin -> Rust round trip over JNA:
 * 100,000 calls after a warm-up, p50 and p99, for the cheapest call (a
 * Boolean back, nothing allocated) and for one returning a record through
 * a RustBuffer. Written to `jna-bench.json` for `cargo xtask bench`.
 */
class CallOverheadBenchmark {
    private fun measure(n: Int, call: () -> Unit): Pair<Double, Double> {
        repeat(n) { call() }
        val samples = LongArray(n)
        for (i in 0 until n) {
            val t = System.nanoTime()
            call()
            samples[i] = System.nanoTime() - t
        }
        samples.sort()
        return samples[n / 2] / 1000.0 to samples[(n * 99) / 100] / 1000.0
    }

    @Test
    fun `measure the round trip of cheap calls`(): Unit = runBlocking {
        val port = java.net.ServerSocket(0).use { it.localPort }
        Praxis.open("http://127.0.0.1:$port", tempDir(), MemoryKeyProvider()).use { praxis ->
            val n = 100_000
            val (boolP50, boolP99) = measure(n) { praxis.isSignedIn }
            val (stateP50, stateP99) = measure(n) { praxis.session }
            println("JNA round trip over $n calls: isSignedIn p50 $boolP50 us p99 $boolP99 us; session p50 $stateP50 us p99 $stateP99 us")
            val dir = File(System.getProperty("praxis.report.dir") ?: "target")
            dir.mkdirs()
            File(dir, "jna-bench.json").writeText(
                """{"calls": $n, "bool_p50_us": $boolP50, "bool_p99_us": $boolP99, "record_p50_us": $stateP50, "record_p99_us": $stateP99, "library": "${System.getProperty("jna.library.path")}"}""",
            )
        }
    }
}
