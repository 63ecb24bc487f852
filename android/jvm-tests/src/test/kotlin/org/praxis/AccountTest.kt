package org.praxis

import java.net.ServerSocket
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AccountTest {
    private lateinit var server: TestServer

    @BeforeAll
    fun start() {
        server = TestServer()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    @Test
    fun `register, login, restore after reopening, logout`(): Unit = runBlocking {
        val dir = tempDir()
        val keys = MemoryKeyProvider()
        val person = newPerson("kotlin")
        val userId = Praxis.open(server.url, dir, keys).use { praxis ->
            assertEquals(SessionState.SignedOut, praxis.session)
            val id = praxis.registerPerson(person)
            assertEquals(SessionState.SignedOut, praxis.session)
            assertEquals(id, praxis.login(person.email, person.password))
            assertEquals(SessionState.SignedIn(id), praxis.sessionStates.first())
            val profile = praxis.profile()
            assertEquals(person.email, profile.email)
            assertEquals(person.fullName, profile.fullName)
            assertTrue(!profile.toString().contains(person.email), "toString hides personal data")
            id
        }
        assertTrue(keys.calls > 0, "the Kotlin key provider was asked for the key")

        // A new process-level client on the same directory: the session comes back.
        Praxis.open(server.url, dir, keys).use { praxis ->
            assertEquals(SessionState.SignedIn(userId), praxis.session)
            assertEquals(person.email, praxis.cachedProfile()?.email)
            assertEquals("midwife", praxis.updateProfile(profession = "midwife").profession)
            // The login email is a credential: it changes only with the password re-entered.
            val newEmail = "renamed.${person.email}"
            val refused = assertFailsWith<PraxisError.Conflict> { praxis.updateProfile(email = newEmail) }
            assertEquals("reauth_required", refused.code)
            praxis.reauthenticate(person.password)
            assertEquals(newEmail, praxis.updateProfile(email = newEmail).email)
            praxis.logout()
            assertEquals(SessionState.SignedOut, praxis.session)
            assertNull(praxis.cachedProfile())
            assertFailsWith<PraxisError.Unauthorized> { praxis.profile() }
        }
        Praxis.open(server.url, dir, keys).use { assertEquals(SessionState.SignedOut, it.session) }
    }

    @Test
    fun `a lost phone is signed out and wiped from the laptop`(): Unit = runBlocking {
        val person = newPerson("devices")
        val phoneDir = tempDir()
        Praxis.open(server.url, phoneDir, MemoryKeyProvider(), deviceName = "Pixel Kotlin").use { phone ->
            phone.registerPerson(person)
            phone.login(person.email, person.password)
            phone.createAppointment(title = "Kotlin lost-phone visit", start = java.time.Instant.now(), durationMin = 30)
            phone.syncNow()
            Praxis.open(server.url, tempDir(), MemoryKeyProvider(), deviceName = "Laptop").use { laptop ->
                laptop.login(person.email, person.password)
                val sessions = laptop.devices.sessions()
                assertEquals(2, sessions.size)
                val lost = sessions.single { !it.current }
                assertEquals("Pixel Kotlin", lost.deviceName)
                assertEquals(DevicePlatform.ANDROID, lost.platform)
                assertTrue(!lost.toString().contains("Pixel"), "toString hides the device name")
                // A wipe needs the password re-entered.
                val refused = assertFailsWith<PraxisError.Conflict> { laptop.devices.endSession(lost.id, wipe = true) }
                assertEquals("reauth_required", refused.code)
                laptop.reauthenticate(person.password)
                laptop.devices.endSession(lost.id, wipe = true)
                assertEquals(1, laptop.devices.sessions().size)
                // A new password: the laptop stays signed in, the old password is dead.
                assertFailsWith<PraxisError.InvalidCredentials> { laptop.changePassword("not the password", "quartz-lantern-oboe-91") }
                laptop.changePassword(person.password, "quartz-lantern-oboe-91")
                assertEquals(person.email, laptop.profile().email)
                // The address is proved with the code mailed at registration.
                assertEquals(false, laptop.profile().emailVerified)
                assertFailsWith<PraxisError.InvalidInput> { laptop.verifyEmail("ZZZZ-ZZZZ") }
                laptop.verifyEmail(server.mailedCode(person.email, "confirmation code"))
                assertTrue(laptop.profile().emailVerified)
                assertEquals(false, laptop.resendVerification())
                // Forgotten password: a mailed code sets a new one and ends every session.
                laptop.requestPasswordReset(person.email)
                val code = server.mailedCode(person.email, "reset code")
                assertFailsWith<PraxisError.InvalidInput> { laptop.resetPassword(person.email, "ZZZZ-ZZZZ", "amber-kite-lumen-83-k") }
                laptop.resetPassword(person.email, code, "amber-kite-lumen-83-k")
                assertFailsWith<PraxisError.Unauthorized> { laptop.profile() }
                laptop.login(person.email, "amber-kite-lumen-83-k")
            }
            assertFailsWith<PraxisError.Unauthorized> { phone.profile() }
            assertEquals(SessionState.Wiped, phone.session)
            assertTrue(phone.appointments().isEmpty())
        }
        val bytes = phoneDir.listFiles()!!.flatMap { it.readBytes().toList() }.toByteArray()
        assertTrue(!String(bytes, Charsets.ISO_8859_1).contains("Kotlin lost-phone visit"), "the visit is gone from the phone")
    }

    @Test
    fun `wrong password and bad input map to the closed errors`(): Unit = runBlocking {
        Praxis.open(server.url, tempDir(), MemoryKeyProvider()).use { praxis ->
            val person = newPerson("errors")
            praxis.registerPerson(person)
            assertFailsWith<PraxisError.InvalidCredentials> { praxis.login(person.email, "not the password") }
            val taken = assertFailsWith<PraxisError.Conflict> { praxis.registerPerson(person) }
            assertEquals("email_taken", taken.code)
            val weak = assertFailsWith<PraxisError.InvalidInput> {
                praxis.register("weak@clinic-example.org", "password1", "N", "+33612345678", "FR", "fr", "nurse", "1985-01-01")
            }
            assertEquals("password", weak.field)
            assertEquals("weak_password", weak.reason)
            val minor = assertFailsWith<PraxisError.InvalidInput> {
                praxis.register(
                    "kid@clinic-example.org", "violet-tram-oboe-99", "N", "+33612345678", "FR", "fr", "nurse",
                    // Ten years old on whatever day the test runs.
                    java.time.LocalDate.now(java.time.ZoneOffset.UTC).minusYears(10).toString(),
                )
            }
            assertEquals("too_young", minor.reason)
            assertEquals(SessionState.SignedOut, praxis.session)
        }
    }

    @Test
    fun `a wrong key is refused and a bad server url is invalid input`(): Unit = runBlocking {
        val dir = tempDir()
        Praxis.open(server.url, dir, MemoryKeyProvider()).close()
        assertFailsWith<PraxisError.KeyMismatch> {
            Praxis.open(server.url, dir, MemoryKeyProvider(ByteArray(32) { 9 }))
        }
        assertFailsWith<PraxisError.InvalidInput> {
            Praxis.open(server.url, dir, MemoryKeyProvider(ByteArray(16)))
        }
        val e = assertFailsWith<PraxisError.InvalidInput> {
            Praxis.open("http://praxis.example.org", tempDir(), MemoryKeyProvider())
        }
        assertEquals("server_url", e.field)
        // A provider that fails: its own reason reaches the app, or its class name, never its message.
        val locked = object : KeyProvider {
            override fun key(): ByteArray = throw PraxisError.KeyUnavailable("device_locked", null)
        }
        assertEquals("device_locked", assertFailsWith<PraxisError.KeyUnavailable> { Praxis.open(server.url, dir, locked) }.reason)
        val broken = object : KeyProvider {
            override fun key(): ByteArray = throw IllegalStateException("keystore said nurse@clinic-example.org")
        }
        val failed = assertFailsWith<PraxisError.KeyUnavailable> { Praxis.open(server.url, dir, broken) }
        assertEquals("IllegalStateException", failed.reason)
    }

    @Test
    fun `a restored backup without its key is reset only when the app asks`(): Unit = runBlocking {
        val dir = tempDir()
        val person = newPerson("restored")
        Praxis.open(server.url, dir, MemoryKeyProvider()).use { praxis ->
            praxis.registerPerson(person)
            praxis.login(person.email, person.password)
        }
        // The backup brought the files; the new phone's Keystore holds another key.
        val newKey = MemoryKeyProvider(ByteArray(32) { 8 })
        assertFailsWith<PraxisError.KeyMismatch> { Praxis.open(server.url, dir, newKey) }
        assertTrue(!newKey.forgotten, "refused without the option: nothing deleted")
        Praxis.open(server.url, dir, newKey, resetOnKeyMismatch = true).use { praxis ->
            assertTrue(newKey.forgotten, "the provider was told to forget its key")
            assertEquals(SessionState.SignedOut, praxis.session)
            praxis.login(person.email, person.password)
            assertTrue(praxis.isSignedIn)
        }
        // The old cache is gone: the old key opens an empty one, not the old session.
        assertFailsWith<PraxisError.KeyMismatch> { Praxis.open(server.url, dir, MemoryKeyProvider()) }
    }

    @Test
    fun `an unreachable server is a network error`(): Unit = runBlocking {
        val port = ServerSocket(0).use { it.localPort }
        Praxis.open("http://127.0.0.1:$port", tempDir(), MemoryKeyProvider()).use { praxis ->
            val e = assertFailsWith<PraxisError.Network> { praxis.login("a@clinic-example.org", "whatever-pass") }
            assertEquals("unreachable", e.reason)
        }
    }

    @Test
    fun `cancelling an in-flight call stops it promptly`(): Unit = runBlocking {
        // A server that accepts connections and never answers.
        ServerSocket(0).use { silent ->
            val held = mutableListOf<java.net.Socket>()
            val acceptor = Thread {
                runCatching { while (true) held += silent.accept() }
            }.apply { isDaemon = true; start() }
            Praxis.open("http://127.0.0.1:${silent.localPort}", tempDir(), MemoryKeyProvider(), requestTimeout = 30.seconds)
                .use { praxis ->
                    val call = async { praxis.login("slow@clinic-example.org", "whatever-pass") }
                    delay(300.milliseconds)
                    val started = System.nanoTime()
                    call.cancel()
                    assertFailsWith<CancellationException> { call.await() }
                    val tookMs = (System.nanoTime() - started) / 1_000_000
                    assertTrue(tookMs < 2_000, "cancellation took $tookMs ms")
                    assertEquals(SessionState.SignedOut, praxis.session)
                    // The Rust future was dropped, not merely abandoned: its
                    // connection closes (the server reads the request, then
                    // end of stream) within 2 s.
                    val socket = held.single()
                    socket.soTimeout = 2_000
                    val input = socket.getInputStream()
                    val buf = ByteArray(4096)
                    while (input.read(buf) >= 0) { /* the request, then EOF */ }
                }
            held.forEach { it.close() }
            acceptor.interrupt()
        }
        // The core still works after a cancelled call.
        Praxis.open(server.url, tempDir(), MemoryKeyProvider()).use { praxis ->
            val p = newPerson("after-cancel")
            withTimeout(10.seconds) { assertNotNull(praxis.registerPerson(p)) }
        }
    }

    @Test
    fun `the session states report sign-in and sign-out`(): Unit = runBlocking {
        Praxis.open(server.url, tempDir(), MemoryKeyProvider()).use { praxis ->
            val p = newPerson("flow")
            praxis.registerPerson(p)
            val states = mutableListOf<SessionState>()
            val collector = async {
                praxis.sessionStates.collect { s ->
                    states += s
                    if (states.size == 3) throw CancellationException("seen enough")
                }
            }
            delay(100.milliseconds)
            val id = praxis.login(p.email, p.password)
            delay(100.milliseconds)
            praxis.logout()
            runCatching { withTimeout(5.seconds) { collector.await() } }
            assertEquals(listOf(SessionState.SignedOut, SessionState.SignedIn(id), SessionState.SignedOut), states)
            assertIs<SessionState.SignedOut>(praxis.session)
        }
    }
}
