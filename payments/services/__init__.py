"""The payments app's services, one module per concept (reads are in ``payments/selectors.py``):

- ``orders``: creating an order (buyer pages, legacy QR entry) and expiring unpaid ones;
- ``payments``: applying the providers' payment states to orders, reconciliation;
- ``webhooks``: provider notifications, one way for all (authenticate → confirm → record);
- ``brew``: the one brew command of a paid order and its outcome;
- ``settlement``: capturing or giving back the buyer's money once the order's fate is known;
- ``transitions``: the order and brew-command state tables (settlement's own are in ``settlement``);
- ``providers``: one face over YooKassa and T-Bank;
- ``tmetr_auth``: Tmetr's bearer tokens, refreshed from Keycloak;
- ``accounts``: saving a merchant's payment and Tmetr accounts (owner API and admin alike);
- ``catalog``: the rules of devices and drinks both edges check;
- ``buyer_limits``: budgets on anonymous order creation, per address and per machine.
"""
