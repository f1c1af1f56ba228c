"""Address validation and subscriber identity, as properties over any text a user may type."""
import string

import pytest
from hypothesis import example, given, settings, strategies as st

from notifier.errors import InputError
from notifier.subscribers import canonical_address, channel_of, new_subscriber

ADDRESS_ALPHABET = st.sampled_from(list(string.ascii_letters + string.digits + "@.#-_+:/ \r\n\t<>,;\"'")
                                   + ["webhook:", "https://hooks.slack.com/services/", "@U", "é", "\x00"])
ADDRESSES = st.one_of(st.text(max_size=60), st.lists(ADDRESS_ALPHABET, max_size=25).map("".join), st.emails())


@settings(max_examples=300, deadline=None)
@given(ADDRESSES)
@example("ada@example.org\r\nBcc: all@example.org")
@example("@U12345678")
def test_any_text_is_an_email_or_slack_address_or_a_one_line_input_error(address):
    try:
        channel = channel_of(address)
    except InputError as err:
        assert not [c for c in str(err) if ord(c) < 32 or 0x7f <= ord(c) <= 0x9f]    # one line, no escapes
        return
    assert channel in ("email", "slack")
    assert not set("\r\n\x00") & set(address)          # nothing that could split a mail header
    canonical = canonical_address(address)
    assert channel_of(canonical) == channel and canonical_address(canonical) == canonical


@settings(max_examples=100, deadline=None)
@given(st.emails())
def test_an_email_address_in_any_case_is_the_same_subscriber(address):
    try:
        lower = new_subscriber(address=address, keywords=["moe"]).address
    except InputError:
        return                                          # an address our stricter rule refuses
    assert new_subscriber(address=address.upper(), keywords=["moe"]).address == lower == address.lower()


@given(st.from_regex(r"\A[UW][A-Z0-9]{8,12}\Z"))
def test_a_slack_user_id_with_or_without_at_is_the_same_subscriber(user):
    assert new_subscriber(address="@" + user, keywords=["moe"]).address == user
    assert new_subscriber(address=user, keywords=["moe"]).address == user


@pytest.mark.parametrize("address", ["a" * 243 + "@example.org", "U" + "A" * 254], ids=["email", "slack-user-id"])
def test_an_address_longer_than_any_mailbox_is_refused_in_one_line_before_the_database(cli, address):
    """RFC 5321 allows 254 characters; a longer one made PostgreSQL's index refuse the row ('index
    row requires 9024 bytes') or was stored for nobody."""
    code, out, err = cli("subscribe", address, "-k", "agents")
    assert (code, err) == (1, "notifier: error: address: 255 characters, at most 254\n")


@pytest.mark.parametrize("address, canonical", [
    ("user@bücher.example", "user@xn--bcher-kva.example"),         # the domain's ASCII form: any server delivers
    ("User@BÜCHER.example", "user@xn--bcher-kva.example"),
    ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
    ("usér@Example.ORG", "usér@example.org"),                       # sent with SMTPUTF8 (RFC 6531)
    ("İnci@example.org", "İnci@example.org"),                       # only ASCII letters lower-cased
], ids=["idn", "idn-capitals", "idn-ascii-form", "utf8-local-part", "dotted-capital-i"])
def test_an_internationalised_address_is_accepted_as_one_mailbox(address, canonical):
    """They were refused as "not a valid e-mail address", on the command line and the web page."""
    assert channel_of(address) == "email" and canonical_address(address) == canonical
    assert new_subscriber(address=address, keywords=["moe"]).address == canonical


@pytest.mark.parametrize("address", ["user@bü_cher.example", "us er@bücher.example", "usé\u0301@example.org"],
                         ids=["underscore-in-domain", "space", "combining-accent"])
def test_an_address_no_mail_server_can_take_is_still_refused_in_one_line(address):
    with pytest.raises(InputError, match="is not a valid e-mail address"):
        channel_of(address)


@pytest.mark.parametrize("typed,stored", [("  ", "ann@example.org"), (" Ann Lee  ", "Ann Lee")])
def test_a_name_of_spaces_or_with_spaces_around_it_is_stored_without_them(typed, stored):
    """A name of spaces was stored as such, and a digest greeted nobody."""
    assert new_subscriber(address="ann@example.org", keywords=["agents"], name=typed).name == stored
