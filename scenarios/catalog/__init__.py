"""The scenario catalog, grouped by rule family and product: ``fakes_*`` modules prove the fakes'
documented behaviours that QA relies on; ``tw_*``, ``ob_*``, ``cr_*`` modules (added with the
syncer) prove the rules of RULES.md."""
