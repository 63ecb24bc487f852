package org.praxis

import java.time.Instant
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
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
    fun `the privacy notice is shown before sign-in and held offline`(): Unit = runBlocking {
        val dir = tempDir()
        val p = Praxis.open(server.url, dir, MemoryKeyProvider())
        val n = p.fetchPrivacyNotice()
        assertEquals(1, n.version)
        assertEquals("2026-12-01", n.published)
        assertEquals("HRB 000000", n.controllerRegistrationNumber)
        assertEquals("dpo@praxis.example.org", n.dpo.email)
        assertEquals("https://www.datenschutz-berlin.de/", n.authorityUrl)
        assertEquals(1, n.consentVersions[Purpose.MARKETING])
        assertEquals(Purpose.values().toSet(), n.consentVersions.keys)
        assertFalse(n.development)
        assertFalse(n.changed, "the first notice a device holds is no change")
        assertFalse(n.toString().contains("praxis.example.org"), "no addresses in logs: $n")
        assertFalse(p.acknowledgePrivacyNotice(1), "nothing to acknowledge")
        p.close()
        // Offline, the copy held.
        val offline = Praxis.open("http://127.0.0.1:9", dir, MemoryKeyProvider())
        assertEquals(n, offline.privacyNotice())
        assertEquals(n, offline.fetchPrivacyNotice())
        offline.close()
    }

    @Test
    fun `analytics are counted only with consent and never with personal data`(): Unit = runBlocking {
        val person = newPerson("analytics")
        val p = Praxis.open(server.url, tempDir(), MemoryKeyProvider())
        p.registerPerson(person)
        p.login(person.email, person.password)
        p.syncNow()
        val props = mapOf("screen" to AnalyticsValue.Token("schedule"), "items" to AnalyticsValue.Count(3))
        assertFalse(p.recordAnalyticsEvent("screen_viewed", props), "no consent yet")
        p.grantConsent(Purpose.ANALYTICS)
        assertTrue(p.recordAnalyticsEvent("screen_viewed", props))
        assertTrue(p.recordAnalyticsEvent("screen_viewed", props))
        val local = person.email.substringBefore('@').substringBefore('.')
        assertFailsWith<PraxisError.InvalidInput> {
            p.recordAnalyticsEvent("screen_viewed", mapOf("who" to AnalyticsValue.Token(local)))
        }
        val drained = p.drainAnalytics()
        assertEquals(1, drained.size)
        assertEquals(2L, drained.single().count)
        assertEquals(AnalyticsValue.Token("schedule"), drained.single().props["screen"])
        p.withdrawConsent(Purpose.ANALYTICS)
        assertFalse(p.recordAnalyticsEvent("screen_viewed", props), "withdrawal applies on the next call")
        assertTrue(p.drainAnalytics().isEmpty())
        p.close()
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

        val listed = p.objections()
        assertTrue(listed.any { it.basis == "connection_log" && !it.objected && it.stops.isNotEmpty() })
        val security = p.setObjection("account_security")
        assertTrue(security.objected && security.stops.isEmpty() && security.continues!!.contains("Art. 21(1)"))
        assertFailsWith<PraxisError.InvalidInput> { p.setObjection("everything") }

        assertEquals(PostMortemAction.ERASE, p.postMortem().action)
        val handOver = p.setPostMortem(PostMortemAction.HAND_OVER, "Ada Heir", "ada.heir@example.org", "Yours")
        assertEquals("ada.heir@example.org", handOver.recipientEmail)
        assertFalse(handOver.toString().contains("ada.heir"), "no address in logs")
        assertFailsWith<PraxisError.InvalidInput> { p.setPostMortem(PostMortemAction.HAND_OVER) }
        p.removePostMortem()
        assertNull(p.postMortem().updatedAt, "the default again")

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
