package org.praxis

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ContactsTest {
    private lateinit var server: TestServer

    @BeforeAll
    fun start() {
        server = TestServer()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    private suspend fun signedIn(tag: String, key: Byte): Pair<Praxis, String> {
        val person = newPerson(tag)
        val p = Praxis.open(server.url, tempDir(), MemoryKeyProvider(ByteArray(32) { key }))
        p.registerPerson(person)
        return p to p.login(person.email, person.password)
    }

    @Test
    fun `an invitation connects two practitioners with chosen fields until revoked`(): Unit = runBlocking {
        val (alice, aliceId) = signedIn("alice", 21)
        val (bruno, brunoId) = signedIn("bruno", 22)
        alice.updateCard(ContactCard("Dr Alice Morel", workPhone = "+33320554433", specialty = "Endocrinology"))
        bruno.updateCard(ContactCard("Bruno Lefebvre", workEmail = "bruno@soins-example.org", workPhone = "+33320998877"))

        val invitation = alice.createInvitation(listOf("display_name", "work_phone"))
        // A tampered code is refused on the device.
        val tampered = invitation.code.dropLast(2) + if (invitation.code.endsWith("AA")) "BB" else "AA"
        val bad = assertFailsWith<PraxisError.InvalidInput> { bruno.acceptInvitation(tampered, listOf("display_name")) }
        assertEquals("code", bad.field)

        assertEquals(aliceId, bruno.acceptInvitation(invitation.code, listOf("display_name", "work_email")))
        val onBruno = bruno.contacts().single()
        assertEquals(aliceId, onBruno.ownerId)
        assertEquals("Dr Alice Morel", onBruno.card.displayName)
        assertEquals("+33320554433", onBruno.card.workPhone)
        assertNull(onBruno.card.specialty, "not shared")

        alice.syncNow("test")
        val onAlice = alice.contacts().single()
        assertEquals(brunoId, onAlice.ownerId)
        assertEquals("bruno@soins-example.org", onAlice.card.workEmail)
        assertNull(onAlice.card.workPhone, "not shared back")

        // Used: a second acceptance is a conflict.
        val used = assertFailsWith<PraxisError.Conflict> { bruno.acceptInvitation(invitation.code, listOf("display_name")) }
        assertEquals("invitation_used", used.code)

        alice.revokeContact(brunoId)
        assertTrue(alice.contacts().isEmpty())
        bruno.syncNow("test")
        assertTrue(bruno.contacts().isEmpty(), "gone after sync")
        alice.close()
        bruno.close()
    }
}
