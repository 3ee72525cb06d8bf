"""nbgrader configuration: the repository root is the course directory.

Run nbgrader from the repository root (``nbgrader export``, ``nbgrader formgrader``) and it
finds the instructor sources in ``solutions/``, the student release in ``exercises/`` and the
gradebook that ``cnn-course grade`` fills.
"""
c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.root = __import__("os").path.dirname(__import__("os").path.abspath(__file__))
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "build/nbgrader/submitted"
c.CourseDirectory.autograded_directory = "build/nbgrader/autograded"
c.CourseDirectory.feedback_directory = "build/nbgrader/feedback"
c.CourseDirectory.db_url = "sqlite:///" + __import__("os").path.join(c.CourseDirectory.root, "build", "gradebook.db")
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# `nbgrader generate_feedback` renders the autograded notebooks, which hold the instructor's
# test cells (as `nbgrader autograde` writes them): clear the hidden tests first, so feedback
# never shows a student their code. Named by import path (nbconvert imports them when it
# renders), so reading this file stays cheap: every cnn-course command reads it.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# formgrader and generate_feedback render notebooks with nbconvert's HTMLExporter on the Jupyter
# server's origin, in the instructor's session: never let a submission's HTML, JavaScript or
# SVG outputs run there. (Their templates render markdown cells without this sanitizer, so
# `cnn-course grade` also writes the autograded notebooks without outputs and with inert
# markdown: autograder.gradebook.clean_submitted_notebook.)
c.HTMLExporter.sanitize_html = True
