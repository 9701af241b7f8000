"""scikit-learn's own estimator checks: the contract users of any estimator assume.

Every check applies and passes; none is declared as an expected failure. The
estimators train for 10 epochs at lr=1e-2 so that the checks that require learning
(e.g. ``check_class_weight_classifiers``) see a model that has learnt.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_i2m2 import I2M2Classifier

ESTIMATORS = [
    I2M2Classifier(max_epochs=10, lr=1e-2, random_state=0),
    I2M2Classifier(dependencies="intra", max_epochs=10, lr=1e-2, random_state=0),
    I2M2Classifier(pretrain_epochs=2, max_epochs=10, lr=1e-2, random_state=0),
]
# Early stopping is left at "auto" (off on these small sets). Forced on, it refuses
# the checks' tiniest sets with an error saying why (a stratified validation split
# needs two rows of every class); tests/test_bad_input.py covers that error.


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
