package org.praxis

import java.time.Instant
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RightsTest {
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
    fun `export, restriction and erasure`(): Unit = runBlocking {
        val person = newPerson("rights")
        val p = Praxis.open(server.url, tempDir(), MemoryKeyProvider())
        p.registerPerson(person)
        p.login(person.email, person.password)

        val file = kotlin.io.path.createTempFile("export", ".json").toFile()
        assertTrue(p.exportData(file) > 0)
        assertTrue(file.readText().contains(person.email), "the export holds the account")

        p.setRestricted(true)
        assertFailsWith<PraxisError.Restricted> { p.createAppointment("Frozen", Instant.now(), 30) }
        p.setRestricted(false)
        p.createAppointment("Allowed again", Instant.now(), 30)
        assertTrue(p.auditLog().any { it.second == "restriction_changed" })

        assertFailsWith<PraxisError.InvalidCredentials> { p.deleteAccount("not-the-password") }
        p.deleteAccount(person.password)
        assertEquals(SessionState.SignedOut, p.session)
        assertTrue(p.appointments().isEmpty(), "this device was wiped")
        assertFailsWith<PraxisError.InvalidCredentials> { p.login(person.email, person.password) }
        p.close()
    }
}
