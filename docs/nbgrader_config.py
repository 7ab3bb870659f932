# nbgrader configuration of the course "Where the noise lives" (docs/teaching.md).
# Copy it into the course folder, next to source/, release/, submitted/ and gradebook.db.
c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

c.CourseDirectory.course_id = "where-the-noise-lives"
# Lessons train small models and run Monte Carlo estimates: allow a cell up to 5 minutes.
c.Execute.timeout = 300
# The stub a student sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# On a JupyterHub with nbgrader's exchange, uncomment and set the shared folder:
# c.Exchange.root = "/srv/nbgrader/exchange"

# Feedback released to students (generate_feedback) shows each check cell without its hidden
# tests: nbgrader's ClearHiddenTests removes the lines between ### BEGIN HIDDEN TESTS and
# ### END HIDDEN TESTS, and the course's HideGraderTracebacks shows a failed graded cell's
# message instead of a traceback that would quote them. A hidden test's output (a ✓, or a
# message) names no hidden input. The hidden inputs come from the secret in the environment
# variable VAE_COURSE_SECRET where autograde runs, never from this file (docs/teaching.md).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402
from vae_utils.checks.feedback import HideGraderTracebacks  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, HideGraderTracebacks, CSSHTMLHeaderPreprocessor]
