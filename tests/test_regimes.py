"""Tests of `model.regimes`: the seven named presets, custom regimes and lever validation.

Checks:

* the seven presets of MODEL.md §5 exist and carry the levers that define them in its table
  (consent standard, whether refusal costs the service, blocking, portability, broker trade,
  third-party access, the trust, recipient liability, dispute resolution);
* `replace` / `get_regime(..., **overrides)` make a custom regime without touching the preset,
  and refuse unknown levers with a message that names them;
* invalid lever values raise ValueError naming the lever, the value and what is allowed;
* `get_regime` refuses an unknown preset name and lists the allowed ones.
"""

from __future__ import annotations

import math

import pytest

from model.regimes import LEVERS, REGIMES, Regime, get_regime

PRESETS = (
    "platform_control",
    "click_through",
    "informed_consent",
    "portability",
    "data_trust",
    "ban",
    "recipient_liability",
)


def test_all_seven_presets_exist_and_carry_their_names():
    """Exactly the presets of MODEL.md §5, each named after its key."""
    assert set(REGIMES) == set(PRESETS)
    for name in PRESETS:
        regime = get_regime(name)
        assert isinstance(regime, Regime)
        assert regime.name == name


def test_ban_has_no_third_party_access():
    """`ban`: no third-party access to platform data, so no taking and no broker trade."""
    ban = get_regime("ban")
    assert ban.third_party_access is False
    assert ban.maker_may_take is False
    assert ban.broker_trade_legal is False
    assert ban.portability == "none"


def test_only_ban_shuts_third_party_access():
    """Every other preset lets makers get platform data somehow."""
    for name in PRESETS:
        if name != "ban":
            assert get_regime(name).third_party_access is True, name


def test_portability_forbids_blocking_and_mandates_transfer():
    """`portability`: the platform may not block or degrade (DMA Art. 11); transfer on request
    or in real time; refusal costs nothing; broker trade illegal."""
    regime = get_regime("portability")
    assert regime.platform_may_block is False
    assert regime.portability in ("on_request", "realtime")
    assert regime.refusal_costs_service is False
    assert regime.broker_trade_legal is False


def test_platform_control_lets_the_maker_get_data_only_by_licence():
    """`platform_control`: the platform's own terms, the maker may not take, the platform may
    block, no portability, the platform may sell to brokers."""
    regime = get_regime("platform_control")
    assert regime.maker_may_take is False
    assert regime.consent_standard == "platform_terms"
    assert regime.platform_may_block is True
    assert regime.portability == "none"
    assert regime.broker_trade_legal is True


def test_data_trust_has_a_trust_and_no_blocking_toward_it():
    """`data_trust`: a trust exists, refusal costs nothing, no blocking, broker trade illegal."""
    regime = get_regime("data_trust")
    assert regime.data_trust is True
    assert regime.platform_may_block is False
    assert regime.refusal_costs_service is False
    assert regime.broker_trade_legal is False


def test_only_the_data_trust_preset_has_a_trust():
    """No other preset sets up a trust."""
    assert [name for name in PRESETS if get_regime(name).data_trust] == ["data_trust"]


def test_informed_consent_makes_refusal_free_and_broker_trade_illegal():
    """`informed_consent`: separate consent, refusal does not cost the service (PIPL Art. 16),
    broker trade illegal, the platform may block, fines up to 5% of turnover (PIPL Art. 66)."""
    regime = get_regime("informed_consent")
    assert regime.consent_standard == "informed"
    assert regime.refusal_costs_service is False
    assert regime.broker_trade_legal is False
    assert regime.platform_may_block is True
    assert regime.portability == "none"
    assert 0 < regime.fine_rate <= 0.05


def test_click_through_bundles_consent_and_mediates_contested_blocking():
    """`click_through`: bundled click-through, refusal costs the service, blocking technically
    allowed but contested, disputes mediated, broker trade tolerated."""
    regime = get_regime("click_through")
    assert regime.consent_standard == "click_through"
    assert regime.refusal_costs_service is True
    assert regime.platform_may_block is True
    assert regime.blocking_contested is True
    assert regime.dispute_resolution == "mediate"
    assert regime.broker_trade_legal is True


def test_recipient_liability_is_click_through_with_a_liable_recipient():
    """`recipient_liability`: click-through, refusal costs the service, blocking allowed,
    broker trade tolerated, the recipient pays for harm; no other preset has that liability."""
    regime = get_regime("recipient_liability")
    assert regime.recipient_liability is True
    assert regime.consent_standard == "click_through"
    assert regime.refusal_costs_service is True
    assert regime.platform_may_block is True
    assert regime.broker_trade_legal is True
    others = [name for name in PRESETS if get_regime(name).recipient_liability]
    assert others == ["recipient_liability"]


def test_replace_makes_a_custom_regime_and_leaves_the_preset_alone():
    """Overriding levers gives a new regime, marked custom, with the rest of the preset intact."""
    base = get_regime("portability")
    custom = base.replace(access_fee_cap=0.0, portability="realtime")
    assert custom.access_fee_cap == 0.0
    assert custom.portability == "realtime"
    assert custom.name != base.name
    assert set(custom.levers_overridden) == {"access_fee_cap", "portability"}
    for lever in set(LEVERS) - {"access_fee_cap", "portability"}:
        assert getattr(custom, lever) == getattr(base, lever), lever
    assert base.portability == "on_request"
    assert math.isinf(base.access_fee_cap)
    assert get_regime("portability") is base


def test_get_regime_with_overrides_equals_replace():
    """`get_regime(name, **levers)` is the preset's `replace(**levers)`."""
    via_get = get_regime("ban", fine_rate=0.02)
    via_replace = get_regime("ban").replace(fine_rate=0.02)
    assert via_get == via_replace
    assert via_get.fine_rate == 0.02


def test_replace_accumulates_overridden_levers():
    """Overriding twice remembers both levers."""
    twice = get_regime("click_through").replace(fine_rate=0.03).replace(audit_probability=0.5)
    assert set(twice.levers_overridden) == {"fine_rate", "audit_probability"}
    assert (twice.fine_rate, twice.audit_probability) == (0.03, 0.5)


def test_replace_can_name_the_custom_regime():
    """`replace(name=...)` labels the custom regime (the code reads `name` from the overrides)."""
    custom = get_regime("informed_consent").replace(name="strict_consent", fine_rate=0.04)
    assert custom.name == "strict_consent"
    assert custom.fine_rate == 0.04


def test_replace_refuses_unknown_levers_and_names_them():
    """A misspelt lever is an error naming it and listing the allowed levers."""
    with pytest.raises(ValueError) as info:
        get_regime("ban").replace(fine_rte=0.1, portabilty="none")
    message = str(info.value)
    assert "fine_rte" in message
    assert "portabilty" in message
    assert "fine_rate" in message  # the allowed levers are listed


def test_levers_dict_has_every_lever_and_no_name():
    """`levers()` is a plain dict of exactly the levers."""
    levers = get_regime("data_trust").levers()
    assert tuple(levers) == LEVERS
    assert "name" not in levers
    assert levers["data_trust"] is True


def test_mechanism_levers_of_model_md_are_all_present():
    """The levers MODEL.md §5 lists at least."""
    required = {
        "consent_standard",
        "refusal_costs_service",
        "platform_may_block",
        "portability",
        "access_fee_cap",
        "broker_trade_legal",
        "fine_rate",
        "audit_probability",
        "complaint_delay",
        "dispute_resolution",
        "data_trust",
        "recipient_liability",
        "compliance_cost",
    }
    assert required <= set(LEVERS)


@pytest.mark.parametrize(
    ("lever", "value", "allowed"),
    [
        ("fine_rate", 2, "[0, 1]"),
        ("fine_rate", -0.1, "[0, 1]"),
        ("audit_probability", 1.5, "[0, 1]"),
        ("consent_standard", "x", "informed"),
        ("portability", "sometimes", "on_request"),
        ("dispute_resolution", "arbitrate", "adjudicate"),
        ("data_trust", "yes", "true or false"),
        ("platform_may_block", 1, "true or false"),
        ("access_fee_cap", -1.0, ">= 0"),
        ("complaint_delay", 1.5, "whole number"),
        ("complaint_delay", -2, "whole number"),
        ("compliance_cost", math.inf, "finite"),
    ],
)
def test_invalid_lever_values_raise_naming_lever_value_and_allowed(lever, value, allowed):
    """Bad values fail both for a new Regime and for an override of a preset."""
    for make in (lambda: Regime(**{lever: value}), lambda: get_regime("ban", **{lever: value})):
        with pytest.raises(ValueError) as info:
            make()
        message = str(info.value)
        assert lever in message
        assert repr(value) in message
        assert allowed in message


def test_get_regime_refuses_unknown_name_and_lists_presets():
    """An unknown preset name is an error naming it and the allowed presets."""
    with pytest.raises(ValueError) as info:
        get_regime("anarchy")
    message = str(info.value)
    assert "anarchy" in message
    for name in PRESETS:
        assert name in message


def test_get_regime_accepts_a_regime_object():
    """A Regime passes through unchanged."""
    custom = Regime(name="mine", fine_rate=0.02)
    assert get_regime(custom) is custom
